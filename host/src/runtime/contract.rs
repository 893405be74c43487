//! The versions of the plugin contract (`pushrail:plugin`, `wit/`) a
//! component may be built against. Today's is [`CURRENT`]; components built
//! against an older one keep loading without a rebuild:
//!
//! - the host interfaces of every older version are linked onto today's
//!   host functions under the older names (`pushrail:plugin/file@0.2.0`
//!   …) where their types have not changed, only the package version;
//! - 0.1.0's logging was `log.log`, linked onto today's `logging.write`;
//! - the `kinesis` of 0.1.0–0.3.0 had no sub-sequence number in its
//!   location: linked through its own bindings to an adapter that leaves it out;
//! - 0.5.0 added interfaces (`signing`, `delivery`, `aws`) and 0.6.0
//!   `http`, which older components cannot import, so nothing of theirs
//!   changed;
//! - a transform of 0.3.0 to 0.6.0 exports `transform-batch` (events as
//!   records) where today's exports `transform-views` (events lent as
//!   views), and one of 0.1.0 or 0.2.0 `transform` (one event per call);
//!   the host runs those through their own bindings
//!   (`bindings::batch_transform`, `bindings::per_event_transform`).
//!
//! The frozen WIT of each older version is in `wit/versions/`.

use wasmtime::component::{HasSelf, Linker};

use super::bindings::destination::pushrail::plugin::{
    aws, delivery, file, http, kafka, kinesis, logging, signing,
};
use super::bindings::kinesis_before_0_4::pushrail::plugin::kinesis as kinesis_0_3;
use super::host::HostState;
use super::worlds::World;

/// Every older version the host still links, oldest first (today's is the
/// package version in `wit/plugin.wit`).
const OLDER: [&str; 6] = ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0"];

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
            if version >= "0.4.0" {
                kinesis::add_to_linker_instance::<_, HasSelf<_>>(&mut kinesis, |s| s)?;
            } else {
                kinesis_0_3::add_to_linker_instance::<_, HasSelf<_>>(&mut kinesis, |s| s)?;
            }
            let mut kafka = linker.instance(&name("kafka"))?;
            kafka::add_to_linker_instance::<_, HasSelf<_>>(&mut kafka, |s| s)?;
            if version >= "0.5.0" {
                let mut signing = linker.instance(&name("signing"))?;
                signing::add_to_linker_instance::<_, HasSelf<_>>(&mut signing, |s| s)?;
                let mut delivery = linker.instance(&name("delivery"))?;
                delivery::add_to_linker_instance::<_, HasSelf<_>>(&mut delivery, |s| s)?;
                let mut aws = linker.instance(&name("aws"))?;
                aws::add_to_linker_instance::<_, HasSelf<_>>(&mut aws, |s| s)?;
            }
            if version >= "0.6.0" {
                let mut http = linker.instance(&name("http"))?;
                http::add_to_linker_instance::<_, HasSelf<_>>(&mut http, |s| s)?;
            }
        }
    }
    Ok(())
}

/// `kinesis.put-records` before 0.4.0: today's, without the sub-sequence
/// number (a component of then has no field for it).
impl kinesis_0_3::Host for HostState {
    async fn put_records(
        &mut self,
        records: Vec<kinesis_0_3::KinesisRecord>,
    ) -> Vec<Result<kinesis_0_3::KinesisLocation, kinesis_0_3::KinesisFailure>> {
        let records = records
            .into_iter()
            .map(|r| kinesis::KinesisRecord {
                partition_key: r.partition_key,
                explicit_hash_key: r.explicit_hash_key,
                data: r.data,
            })
            .collect();
        kinesis::Host::put_records(self, records)
            .await
            .into_iter()
            .map(|result| {
                result
                    .map(|at| kinesis_0_3::KinesisLocation {
                        shard_id: at.shard_id,
                        sequence_number: at.sequence_number,
                    })
                    .map_err(|f| kinesis_0_3::KinesisFailure {
                        code: f.code,
                        message: f.message,
                        retryable: f.retryable,
                    })
            })
            .collect()
    }
}
