//! The versions of the plugin contract (`pushrail:plugin`, `wit/`) a
//! component may be built against. Today's is [`CURRENT`]; components built
//! against an older one keep loading without a rebuild:
//!
//! - the host interfaces of every older version are linked onto today's
//!   host functions under the older names (`pushrail:plugin/kinesis@0.2.0`
//!   …): their types have not changed, only the package version;
//! - 0.1.0's logging was `log.log`, linked onto today's `logging.write`;
//! - a transform of 0.1.0 or 0.2.0 exports `transform` (one event per call)
//!   where today's exports `transform-batch`; the host runs those through
//!   their own bindings (`bindings::per_event_transform`), one call per event.
//!
//! The frozen WIT of each older version is in `wit/versions/`.

use wasmtime::component::{HasSelf, Linker};

use super::bindings::destination::pushrail::plugin::{file, kafka, kinesis, logging};
use super::host::HostState;
use super::worlds::World;

/// Every older version the host still links, oldest first (today's is the
/// package version in `wit/plugin.wit`).
const OLDER: [&str; 2] = ["0.1.0", "0.2.0"];

/// Adds the host interfaces of every older version that `world` imported
/// in it, each bound to today's implementation.
pub(super) fn link_older(linker: &mut Linker<HostState>, world: World) -> wasmtime::Result<()> {
    for version in OLDER {
        let name = |interface: &str| format!("pushrail:plugin/{interface}@{version}");
        // Types only: an instance with nothing in it satisfies the import.
        linker.instance(&name("types"))?;
        if version == "0.1.0" {
            linker.instance(&name("log"))?.func_wrap_async(
                "log",
                |mut store, (level, message): (logging::Level, String)| {
                    Box::new(async move {
                        logging::Host::write(store.data_mut(), level, message).await;
                        Ok(())
                    })
                },
            )?;
        } else {
            let mut logging = linker.instance(&name("logging"))?;
            logging::add_to_linker_instance::<_, HasSelf<_>>(&mut logging, |s| s)?;
        }
        if world == World::Destination {
            let mut file = linker.instance(&name("file"))?;
            file::add_to_linker_instance::<_, HasSelf<_>>(&mut file, |s| s)?;
            let mut kinesis = linker.instance(&name("kinesis"))?;
            kinesis::add_to_linker_instance::<_, HasSelf<_>>(&mut kinesis, |s| s)?;
            let mut kafka = linker.instance(&name("kafka"))?;
            kafka::add_to_linker_instance::<_, HasSelf<_>>(&mut kafka, |s| s)?;
        }
    }
    Ok(())
}
