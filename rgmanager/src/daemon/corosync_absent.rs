//! The shell's link to corosync in a build without the `corosync` cargo feature: choosing
//! the corosync engine is refused at start-up with a clear error. [`Link`] has no values, so
//! none of its methods can ever run.

use crate::membership::cpg::CpgInput;
use crate::membership::NodeId;

#[derive(Debug)]
pub enum Incoming {
    Cpg(CpgInput),
    Message(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum CorosyncError {
    #[error(
        "this rgmanager was built without corosync support (cargo feature \"corosync\"): \
         run the embedded engine (<cman engine=\"embedded\"/> or --engine embedded)"
    )]
    NotBuilt,
}

pub enum Link {}

impl Link {
    pub fn open(_local: NodeId) -> Result<Link, CorosyncError> {
        Err(CorosyncError::NotBuilt)
    }

    pub async fn next(&mut self) -> Vec<Incoming> {
        match *self {}
    }

    pub async fn send_engine(&mut self, _bytes: &[u8]) {
        match *self {}
    }

    pub async fn send_message(&mut self, _to: NodeId, _bytes: &[u8]) {
        match *self {}
    }

    pub fn leave(&mut self) {
        match *self {}
    }

    pub fn reconfigure(&mut self, _conf: &ccs::ClusterConf) {
        match *self {}
    }
}
