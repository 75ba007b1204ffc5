//! Attaching a program to an interface through netlink (IFLA_XDP), native mode first and the
//! generic (skb) mode when the driver has none. The ledger records the attachment before it is
//! made, so a crash leaves an entry the next start sweeps (`KernelObject::Xdp`), and a failed
//! attach removes the entry again so the sweep never detaches somebody else's program.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_route::link::{LinkAttribute, LinkXdp};

use crate::kernel::netlink::{detach_xdp, NetlinkError};
use crate::kernel::{KernelObject, Ledger, Netlink};

/// linux/if_link.h
const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1;
const XDP_FLAGS_SKB_MODE: u32 = 2;
const XDP_FLAGS_DRV_MODE: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Native,
    Generic,
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("recording XDP on {ifname} in the ledger: {source}")]
    Ledger {
        ifname: String,
        #[source]
        source: std::io::Error,
    },
    #[error("attaching XDP to {ifname}: native mode: {native}; generic mode: {generic}")]
    Refused {
        ifname: String,
        native: String,
        generic: String,
    },
}

async fn set_xdp(nl: &Netlink, index: u32, fd: i32, flags: u32) -> Result<(), rtnetlink::Error> {
    let msg = rtnetlink::LinkUnspec::new_with_index(index)
        .append_extra_attribute(LinkAttribute::Xdp(vec![
            LinkXdp::Fd(fd),
            LinkXdp::Flags(flags),
        ]))
        .build();
    nl.handle().link().set(msg).execute().await
}

/// Attaches `prog` to `ifname`; `generic_only` skips the native attempt.
pub async fn attach(
    nl: &Netlink,
    ledger: &Ledger,
    ifname: &str,
    prog: BorrowedFd<'_>,
    generic_only: bool,
) -> Result<Mode, AttachError> {
    let index = nl.link_index(ifname).await?;
    let obj = KernelObject::Xdp {
        ifname: ifname.to_string(),
    };
    ledger
        .record(obj.clone())
        .map_err(|source| AttachError::Ledger {
            ifname: ifname.to_string(),
            source,
        })?;
    let fd = prog.as_raw_fd();
    let native = if generic_only {
        "not tried".to_string()
    } else {
        match set_xdp(
            nl,
            index,
            fd,
            XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_DRV_MODE,
        )
        .await
        {
            Ok(()) => return Ok(Mode::Native),
            Err(e) => e.to_string(),
        }
    };
    match set_xdp(
        nl,
        index,
        fd,
        XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_SKB_MODE,
    )
    .await
    {
        Ok(()) => Ok(Mode::Generic),
        Err(e) => {
            // Nothing of ours is attached (another program may be): not ours to sweep.
            let _ = ledger.forget(&obj);
            Err(AttachError::Refused {
                ifname: ifname.to_string(),
                native,
                generic: e.to_string(),
            })
        }
    }
}

/// Detaches whatever XDP program is on `ifname` and forgets the ledger entry.
pub async fn detach(nl: &Netlink, ledger: &Ledger, ifname: &str) -> Result<(), AttachError> {
    detach_xdp(nl, ifname).await?;
    let _ = ledger.forget(&KernelObject::Xdp {
        ifname: ifname.to_string(),
    });
    Ok(())
}
