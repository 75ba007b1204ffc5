//! A thin rtnetlink wrapper for the few operations the daemon needs, with errors that say what
//! was attempted. One request connection for the whole daemon; monitors use their own.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("interface {0} does not exist")]
    NoSuchLink(String),
    #[error("{what}: {source}")]
    Request {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
}

const EEXIST: i32 = -libc::EEXIST;
const ENODEV: i32 = -libc::ENODEV;
const EADDRNOTAVAIL: i32 = -libc::EADDRNOTAVAIL;
const ENOENT: i32 = -libc::ENOENT;

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code()),
        _ => None,
    }
}

/// Outcome of an add: the daemon owns only what it created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Created,
    AlreadyPresent,
}

#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens the request connection and spawns its driver on the current runtime.
    pub fn connect() -> Result<Self, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    pub async fn link_by_name(&self, name: &str) -> Result<Option<LinkMessage>, NetlinkError> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(e) if matches!(errno(&e), Some(ENODEV)) => Ok(None),
            Err(source) => Err(NetlinkError::Request {
                what: format!("looking up interface {name}"),
                source,
            }),
        }
    }

    pub async fn link_index(&self, name: &str) -> Result<u32, NetlinkError> {
        self.link_by_name(name)
            .await?
            .map(|l| l.header.index)
            .ok_or_else(|| NetlinkError::NoSuchLink(name.to_string()))
    }

    pub async fn add_address(&self, ifname: &str, net: IpNetwork) -> Result<Added, NetlinkError> {
        let index = self.link_index(ifname).await?;
        self.add_address_at(index, ifname, net, false).await
    }

    /// Adds an address by interface index. `nodad` skips IPv6 duplicate address detection:
    /// a virtual address moves between routers and must be usable the instant a new master
    /// takes it, not after a second of "tentative".
    pub async fn add_address_at(
        &self,
        index: u32,
        ifname: &str,
        net: IpNetwork,
        nodad: bool,
    ) -> Result<Added, NetlinkError> {
        let mut req = self.handle.address().add(index, net.ip(), net.prefix());
        if nodad && net.is_ipv6() {
            use netlink_packet_route::address::{AddressFlags, AddressHeaderFlags};
            let msg = req.message_mut();
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(Added::Created),
            Err(e) if errno(&e) == Some(EEXIST) => Ok(Added::AlreadyPresent),
            Err(source) => Err(NetlinkError::Request {
                what: format!("adding {net} to {ifname}"),
                source,
            }),
        }
    }

    /// Removes an address; absence (of the address or the interface) is not an error, because
    /// the goal, "not there", holds.
    pub async fn del_address(&self, ifname: &str, net: IpNetwork) -> Result<bool, NetlinkError> {
        let Some(link) = self.link_by_name(ifname).await? else {
            return Ok(false);
        };
        let Some(msg) = self.find_address(link.header.index, net.ip()).await? else {
            return Ok(false);
        };
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(EADDRNOTAVAIL | ENODEV | ENOENT)) => Ok(false),
            Err(source) => Err(NetlinkError::Request {
                what: format!("removing {net} from {ifname}"),
                source,
            }),
        }
    }

    async fn find_address(
        &self,
        index: u32,
        ip: IpAddr,
    ) -> Result<Option<AddressMessage>, NetlinkError> {
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        loop {
            match addrs.try_next().await {
                Ok(Some(msg)) => {
                    let matches = msg.attributes.iter().any(|a| match a {
                        AddressAttribute::Address(a) | AddressAttribute::Local(a) => *a == ip,
                        _ => false,
                    });
                    if matches {
                        return Ok(Some(msg));
                    }
                }
                Ok(None) => return Ok(None),
                Err(source) => {
                    return Err(NetlinkError::Request {
                        what: format!("listing addresses of interface {index}"),
                        source,
                    })
                }
            }
        }
    }

    /// Every address on an interface, for status.
    pub async fn addresses(&self, index: u32) -> Result<Vec<IpAddr>, NetlinkError> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|source| NetlinkError::Request {
                what: format!("listing addresses of interface {index}"),
                source,
            })?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                m.attributes
                    .iter()
                    .find_map(|a| match a {
                        AddressAttribute::Local(a) => Some(*a),
                        _ => None,
                    })
                    .or_else(|| {
                        m.attributes.iter().find_map(|a| match a {
                            AddressAttribute::Address(a) => Some(*a),
                            _ => None,
                        })
                    })
            })
            .collect())
    }

    /// Creates a bridge-mode macvlan (the VRRP virtual MAC) on `parent` with IPv6 address
    /// generation off, so it never sends its own NDP or MLD traffic from the shared MAC.
    ///
    /// Bridge mode, not private: in private (and passthru/source) mode the kernel hands a
    /// multicast frame whose source MAC is a local macvlan's to that macvlan alone, as if it
    /// had looped back, and the parent never sees it. Another router's VRRP master sends its
    /// adverts from the same virtual MAC (RFC 9568 §7.3), so a backup listening on the parent
    /// would hear nothing and become master too. In bridge mode such a frame reaches the
    /// parent like any other (FRR's vrrpd creates its macvlans in bridge mode for the same
    /// reason).
    pub async fn add_macvlan(
        &self,
        name: &str,
        parent: u32,
        mac: [u8; 6],
    ) -> Result<Added, NetlinkError> {
        use netlink_packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode, MacVlanMode};
        // Created down: the kernel rejects IFLA_AF_SPEC in RTM_NEWLINK, and a link that came
        // up before addrgenmode is set would already have sent from a link-local address.
        let msg = rtnetlink::LinkMacVlan::new(name, parent, MacVlanMode::Bridge)
            .address(mac.to_vec())
            .build();
        let added = match self.handle.link().add(msg).execute().await {
            Ok(()) => Added::Created,
            Err(e) if errno(&e) == Some(EEXIST) => Added::AlreadyPresent,
            Err(source) => {
                return Err(NetlinkError::Request {
                    what: format!("creating macvlan {name}"),
                    source,
                })
            }
        };
        let index = self.link_index(name).await?;
        let set = |msg| async {
            self.handle
                .link()
                .set(msg)
                .execute()
                .await
                .map_err(|source| NetlinkError::Request {
                    what: format!("configuring macvlan {name}"),
                    source,
                })
        };
        set(rtnetlink::LinkUnspec::new_with_index(index)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]))
            .build())
        .await?;
        set(rtnetlink::LinkUnspec::new_with_index(index).up().build()).await?;
        Ok(added)
    }

    /// Gives the tap `name` its MAC and MTU and brings it up; returns its index.
    pub async fn configure_tap(
        &self,
        name: &str,
        mac: [u8; 6],
        mtu: u32,
    ) -> Result<u32, NetlinkError> {
        let index = self.link_index(name).await?;
        let msg = rtnetlink::LinkUnspec::new_with_index(index)
            .address(mac.to_vec())
            .mtu(mtu)
            .build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|source| NetlinkError::Request {
                what: format!("configuring tap {name}"),
                source,
            })?;
        self.set_up(index).await?;
        Ok(index)
    }

    /// Brings link `index` up (administratively).
    pub async fn set_up(&self, index: u32) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(rtnetlink::LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|source| NetlinkError::Request {
                what: format!("bringing link {index} up"),
                source,
            })
    }

    pub async fn del_link(&self, name: &str) -> Result<bool, NetlinkError> {
        let Some(link) = self.link_by_name(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.header.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(ENODEV)) => Ok(false),
            Err(source) => Err(NetlinkError::Request {
                what: format!("deleting link {name}"),
                source,
            }),
        }
    }
}

/// Name of a link message, if present.
pub fn link_name(msg: &LinkMessage) -> Option<&str> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// Detaches whatever XDP program is on `ifname` (fd -1 clears every attach mode's slot when
/// sent without mode flags only for the mode in use, so both modes are cleared explicitly).
pub async fn detach_xdp(nl: &Netlink, ifname: &str) -> Result<bool, NetlinkError> {
    use netlink_packet_route::link::LinkXdp;
    let Some(link) = nl.link_by_name(ifname).await? else {
        return Ok(false);
    };
    // XDP_FLAGS_SKB_MODE = 2, XDP_FLAGS_DRV_MODE = 4 (linux/if_link.h).
    for flags in [2u32, 4u32] {
        let msg = rtnetlink::LinkUnspec::new_with_index(link.header.index)
            .append_extra_attribute(LinkAttribute::Xdp(vec![
                LinkXdp::Fd(-1),
                LinkXdp::Flags(flags),
            ]))
            .build();
        if let Err(source) = nl.handle.link().set(msg).execute().await {
            if !matches!(errno(&source), Some(ENODEV | ENOENT)) {
                return Err(NetlinkError::Request {
                    what: format!("detaching XDP from {ifname}"),
                    source,
                });
            }
        }
    }
    Ok(true)
}
