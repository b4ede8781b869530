//! Link settings kernel::link does not offer yet: promiscuous mode, allmulti
//! and the TX queue length (tuning's `promisc`, `allmulti`, `txQLen`, the
//! bridge's `promiscMode`). One RTM_NEWLINK in the calling thread's netns.
//!
//! Local workaround: requested from kernel::link in NOTES-cni-requests.md;
//! replace with `Netlink::set_promisc/set_allmulti/set_txqlen` when it has them.

use rtnetlink::LinkUnspec;

use crate::error::{Error, Result};

pub fn set_flags(
    index: u32,
    promisc: Option<bool>,
    allmulti: Option<bool>,
    txqlen: Option<u32>,
) -> Result<()> {
    if promisc.is_none() && allmulti.is_none() && txqlen.is_none() {
        return Ok(());
    }
    let what = format!("setting link flags on link #{index}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::io("starting the netlink runtime", e))?;
    let (connection, handle, _) = {
        let _enter = rt.enter();
        rtnetlink::new_connection().map_err(|e| Error::io("opening a netlink socket", e))?
    };
    rt.spawn(connection);
    let mut b = LinkUnspec::new_with_index(index);
    if let Some(on) = promisc {
        b = b.promiscuous(on);
    }
    if let Some(on) = allmulti {
        b = b.allmulticast(on);
    }
    if let Some(q) = txqlen {
        b = b.txqueuelen(q);
    }
    rt.block_on(handle.link().change(b.build()).execute())
        .map_err(|e| match e {
            rtnetlink::Error::NetlinkError(m) => {
                let errno = m.raw_code().abs();
                Error::kernel(
                    errno,
                    format!("{what}: {}", std::io::Error::from_raw_os_error(errno)),
                )
            }
            other => Error::kernel(libc::EIO, format!("{what}: {other}")),
        })
}
