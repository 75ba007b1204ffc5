//! What can go wrong loading the program or using its maps. aya's errors are boxed: they are
//! large, and these travel through `Result`s on the daemon's control path.

#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error("loading the offload object: {0}")]
    Load(#[source] Box<aya::EbpfError>),
    #[error("the offload object has no {what} `{name}`")]
    Missing {
        what: &'static str,
        name: &'static str,
    },
    #[error("the offload program: {0}")]
    Program(#[source] Box<aya::programs::ProgramError>),
    #[error("offload map `{map}`: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: Box<aya::maps::MapError>,
    },
    #[error("offload map `ol_ports`: {0}")]
    Port(#[source] Box<aya::maps::xdp::XdpMapError>),
    #[error("bpf({cmd}): {source}")]
    Sys {
        cmd: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("BPF_PROG_TEST_RUN: a frame of {len} bytes is not a test input (14 to {max} bytes)")]
    FrameSize { len: usize, max: usize },
}

impl OffloadError {
    pub(crate) fn map(map: &'static str) -> impl FnOnce(aya::maps::MapError) -> OffloadError {
        move |source| OffloadError::Map {
            map,
            source: Box::new(source),
        }
    }
}
