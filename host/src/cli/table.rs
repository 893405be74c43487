//! Plain-text tables for the terminal: columns padded to their widest cell.

pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = String>| {
            let padded: Vec<String> = cells
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = line(&mut self.headers.iter().map(|h| h.to_string()));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(&mut row.iter().cloned()));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pads_columns() {
        let mut t = super::Table::new(&["NAME", "LAG"]);
        t.row(vec!["orders".into(), "12".into()]);
        t.row(vec!["a".into(), "1234".into()]);
        assert_eq!(t.render(), "NAME    LAG\norders  12\na       1234\n");
    }
}
