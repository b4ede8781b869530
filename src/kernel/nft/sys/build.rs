//! Building requests: [`Batch`] (one transaction, batch begin .. end) and
//! [`Requests`] (GETs and dumps). Both are a [`Writer`]: every message is
//! one libnftnl object addressed to the current family and table, written
//! by that object's payload builder ([`Payload`]) after a header with its
//! own sequence number; the methods below only say which object and which
//! message type.

use ::nftnl::nftnl_sys as sys;

use super::*;

/// The libnftnl object one message carries.
pub(super) enum Payload<'a> {
    Table(&'a NlTable),
    Chain(&'a NlChain),
    Rule(&'a NlRule),
    Set(&'a NlSet),
    /// The set's elements (NEWSETELEM / DELSETELEM / GETSETELEM).
    Elems(&'a NlSet),
}

impl Payload<'_> {
    fn write(&self, nlh: *mut libc::nlmsghdr) {
        // SAFETY: nlh is a header just built in a buffer with MSG_MAX bytes
        // of room after it; the object is live for the call; libnftnl writes
        // its attributes after the header (every object here is bounded well
        // below MSG_MAX: element lists are split at ELEM_MSG_BUDGET).
        unsafe {
            match self {
                Payload::Table(t) => sys::nftnl_table_nlmsg_build_payload(nlh, t.ptr()),
                Payload::Chain(c) => sys::nftnl_chain_nlmsg_build_payload(nlh, c.ptr()),
                Payload::Rule(r) => sys::nftnl_rule_nlmsg_build_payload(nlh, r.ptr()),
                Payload::Set(s) => sys::nftnl_set_nlmsg_build_payload(nlh, s.ptr()),
                Payload::Elems(s) => sys::nftnl_set_elems_nlmsg_build_payload(nlh, s.ptr()),
            }
        }
    }
}

/// Messages back to back, each with its own sequence number, addressed to
/// one family and table at a time.
pub(super) struct Writer {
    pub(super) buf: MsgBuf,
    family: u16,
    pub(super) table: String,
    next_seq: u32,
    /// byte offset of the last message written
    last_msg: Option<usize>,
}

impl Writer {
    fn new(family: u16, table: &str, first_seq: u32) -> Writer {
        Writer {
            buf: MsgBuf::new(),
            family,
            table: table.to_string(),
            next_seq: first_seq,
            last_msg: None,
        }
    }

    /// One message: header (type, flags, family, next seq) then `payload`.
    fn msg(&mut self, kind: libc::c_int, flags: libc::c_int, payload: Payload<'_>) -> u32 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.last_msg = Some(self.buf.byte_len());
        let family = self.family;
        // SAFETY: build_hdr writes a 20-byte header at p; `payload` appends
        // the attributes of one libnftnl object, bounded well below MSG_MAX.
        unsafe {
            self.buf.push(|p| {
                let nlh = sys::nftnl_nlmsg_build_hdr(p, kind as u16, family, flags as u16, seq);
                payload.write(nlh);
                nlh
            })
        };
        seq
    }

    fn target(&mut self, family: u16, table: &str) {
        self.family = family;
        self.table = table.to_string();
    }

    /// The current table.
    fn table(&self) -> NlTable {
        new_table(self.family, &self.table)
    }

    /// A chain of the current table (`None`: every chain of it).
    fn chain(&self, name: Option<&str>) -> NlChain {
        let ch = NlChain::new();
        let t = cstring(&self.table);
        let n = name.map(cstring);
        // SAFETY: ch is live; libnftnl copies the strings.
        unsafe {
            sys::nftnl_chain_set_u32(ch.ptr(), sys::NFTNL_CHAIN_FAMILY as u16, self.family as u32);
            sys::nftnl_chain_set_str(ch.ptr(), sys::NFTNL_CHAIN_TABLE as u16, t.as_ptr());
            if let Some(n) = &n {
                sys::nftnl_chain_set_str(ch.ptr(), sys::NFTNL_CHAIN_NAME as u16, n.as_ptr());
            }
        }
        ch
    }

    /// A rule of the current table, in `chain` (`None`: every chain), made of
    /// `exprs`.
    fn rule(&self, chain: Option<&str>, exprs: &[Expr]) -> NlRule {
        let r = NlRule::new();
        let t = cstring(&self.table);
        let c = chain.map(cstring);
        // SAFETY: r is live; libnftnl copies the strings.
        unsafe {
            sys::nftnl_rule_set_u32(r.ptr(), sys::NFTNL_RULE_FAMILY as u16, self.family as u32);
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_TABLE as u16, t.as_ptr());
            if let Some(c) = &c {
                sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_CHAIN as u16, c.as_ptr());
            }
        }
        for e in exprs {
            NlExpr::build(e).into_rule(&r);
        }
        r
    }

    /// A set of the current table.
    fn set(&self, name: &str) -> NlSet {
        new_set(self.family, &self.table, name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::kernel::nft) enum ElemOp {
    /// NEWSETELEM with NLM_F_EXCL: an existing key fails the batch (EEXIST).
    AddExcl,
    /// DELSETELEM: a missing key fails the batch (ENOENT).
    Del,
}

/// One nftables transaction. Every message gets its own sequence number;
/// only the last one asks for an ACK (errors are always reported), so a batch
/// of thousands of messages costs one ACK, not thousands.
pub(in crate::kernel::nft) struct Batch {
    w: Writer,
    begin_seq: u32,
}

pub(in crate::kernel::nft) struct FinishedBatch {
    pub(super) buf: MsgBuf,
    pub(super) begin_seq: u32,
    /// seq of the first and last content messages
    pub(super) seqs: std::ops::Range<u32>,
    pub(super) last_seq: Option<u32>,
}

impl Batch {
    pub(in crate::kernel::nft) fn new(family: u16, table: &str) -> Batch {
        let mut b = Batch {
            w: Writer::new(family, table, 2),
            begin_seq: 1,
        };
        // SAFETY: nftnl_batch_begin writes a 20-byte message.
        unsafe { b.w.buf.push(|p| sys::nftnl_batch_begin(p, 1)) };
        b
    }

    /// Address the following messages to another family and table (one
    /// transaction may touch several tables, e.g. ip and ip6 `filter`).
    pub(in crate::kernel::nft) fn target(&mut self, family: u16, table: &str) {
        self.w.target(family, table);
    }

    /// NEWRULE without NLM_F_APPEND and without a position: the rule goes to
    /// the top of the chain (nft's `insert`, iptables' `-I`).
    pub(in crate::kernel::nft) fn insert_rule(&mut self, chain: &str, exprs: &[Expr]) -> u32 {
        let r = self.w.rule(Some(chain), exprs);
        self.w
            .msg(libc::NFT_MSG_NEWRULE, libc::NLM_F_CREATE, Payload::Rule(&r))
    }

    /// NEWRULE appended to the chain.
    pub(in crate::kernel::nft) fn add_rule(&mut self, chain: &str, exprs: &[Expr]) -> u32 {
        let r = self.w.rule(Some(chain), exprs);
        self.w.msg(
            libc::NFT_MSG_NEWRULE,
            libc::NLM_F_CREATE | libc::NLM_F_APPEND,
            Payload::Rule(&r),
        )
    }

    /// DELRULE by handle.
    pub(in crate::kernel::nft) fn del_rule(&mut self, chain: &str, handle: u64) -> u32 {
        let r = self.w.rule(Some(chain), &[]);
        // SAFETY: r is live.
        unsafe { sys::nftnl_rule_set_u64(r.ptr(), sys::NFTNL_RULE_HANDLE as u16, handle) };
        self.w.msg(libc::NFT_MSG_DELRULE, 0, Payload::Rule(&r))
    }

    /// NEWTABLE (without NLM_F_EXCL: no error when it exists).
    pub(in crate::kernel::nft) fn add_table(&mut self) -> u32 {
        let t = self.w.table();
        self.w.msg(
            libc::NFT_MSG_NEWTABLE,
            libc::NLM_F_CREATE,
            Payload::Table(&t),
        )
    }

    pub(in crate::kernel::nft) fn del_table(&mut self) -> u32 {
        let t = self.w.table();
        self.w.msg(libc::NFT_MSG_DELTABLE, 0, Payload::Table(&t))
    }

    pub(in crate::kernel::nft) fn add_chain(&mut self, c: &ChainDef) -> u32 {
        let ch = self.w.chain(Some(&c.name));
        if let Some(b) = &c.base {
            let kind = cstring(&b.kind);
            // SAFETY: ch is live; libnftnl copies the string.
            unsafe {
                let p = ch.ptr();
                sys::nftnl_chain_set_u32(p, sys::NFTNL_CHAIN_HOOKNUM as u16, b.hook);
                sys::nftnl_chain_set_s32(p, sys::NFTNL_CHAIN_PRIO as u16, b.prio);
                sys::nftnl_chain_set_str(p, sys::NFTNL_CHAIN_TYPE as u16, kind.as_ptr());
                sys::nftnl_chain_set_u32(p, sys::NFTNL_CHAIN_POLICY as u16, b.policy);
            }
        }
        self.w.msg(
            libc::NFT_MSG_NEWCHAIN,
            libc::NLM_F_CREATE,
            Payload::Chain(&ch),
        )
    }

    pub(in crate::kernel::nft) fn add_set(&mut self, s: &SetDef) -> u32 {
        let set = self.w.set(&s.name);
        // SAFETY: set is live; libnftnl copies the userdata.
        unsafe {
            let p = set.ptr();
            sys::nftnl_set_set_u32(p, sys::NFTNL_SET_FLAGS as u16, s.flags);
            sys::nftnl_set_set_u32(p, sys::NFTNL_SET_KEY_TYPE as u16, s.key_type);
            sys::nftnl_set_set_u32(p, sys::NFTNL_SET_KEY_LEN as u16, s.key_len);
            if let Some((dt, dl)) = s.data {
                sys::nftnl_set_set_u32(p, sys::NFTNL_SET_DATA_TYPE as u16, dt);
                sys::nftnl_set_set_u32(p, sys::NFTNL_SET_DATA_LEN as u16, dl);
            }
            sys::nftnl_set_set_u32(p, sys::NFTNL_SET_ID as u16, s.id);
            if !s.concat.is_empty() {
                // libnftnl copies the u8 lengths into a zeroed 16-byte array
                // and counts them up to the first 0: at most 15 (ours are 3).
                let fields = &s.concat[..s.concat.len().min(15)];
                sys::nftnl_set_set_data(
                    p,
                    sys::NFTNL_SET_DESC_CONCAT as u16,
                    fields.as_ptr().cast::<c_void>(),
                    fields.len() as u32,
                );
            }
            if !s.udata.is_empty() {
                sys::nftnl_set_set_data(
                    p,
                    sys::NFTNL_SET_USERDATA as u16,
                    s.udata.as_ptr().cast::<c_void>(),
                    s.udata.len() as u32,
                );
            }
        }
        self.w
            .msg(libc::NFT_MSG_NEWSET, libc::NLM_F_CREATE, Payload::Set(&set))
    }

    /// Elements of one set, in as few messages as fit; returns their seqs.
    pub(in crate::kernel::nft) fn elems(
        &mut self,
        op: ElemOp,
        set: &str,
        set_id: u32,
        elems: &[Elem],
    ) -> Vec<u32> {
        let mut seqs = Vec::new();
        let mut i = 0;
        while i < elems.len() {
            let mut j = i;
            let mut size = 64 + set.len() + self.w.table.len();
            while j < elems.len() && (j == i || size + elem_cost(&elems[j]) <= ELEM_MSG_BUDGET) {
                size += elem_cost(&elems[j]);
                j += 1;
            }
            seqs.push(self.elem_msg(op, set, set_id, &elems[i..j]));
            i = j;
        }
        seqs
    }

    /// One message per element: a failing message names its element.
    pub(in crate::kernel::nft) fn elem_each(&mut self, op: ElemOp, set: &str, e: &Elem) -> u32 {
        self.elem_msg(op, set, 0, std::slice::from_ref(e))
    }

    pub(super) fn elem_msg(&mut self, op: ElemOp, set: &str, set_id: u32, elems: &[Elem]) -> u32 {
        let s = self.w.set(set);
        if set_id != 0 {
            // SAFETY: s is live.
            unsafe { sys::nftnl_set_set_u32(s.ptr(), sys::NFTNL_SET_ID as u16, set_id) };
        }
        for e in elems {
            add_elem(&s, e);
        }
        let (kind, flags) = match op {
            ElemOp::AddExcl => (
                libc::NFT_MSG_NEWSETELEM,
                libc::NLM_F_CREATE | libc::NLM_F_EXCL,
            ),
            ElemOp::Del => (libc::NFT_MSG_DELSETELEM, 0),
        };
        // its elements fit in ELEM_MSG_BUDGET (< MSG_MAX), or it is a single
        // element, which always fits
        self.w.msg(kind, flags, Payload::Elems(&s))
    }

    pub(in crate::kernel::nft) fn is_empty(&self) -> bool {
        self.w.last_msg.is_none()
    }

    pub(in crate::kernel::nft) fn finish(self) -> FinishedBatch {
        let Batch { mut w, begin_seq } = self;
        let last_seq = w.last_msg.map(|off| {
            // nlmsg_flags: the native-endian u16 at byte 6 of the header
            let bytes = as_bytes_mut(&mut w.buf.words);
            let flags =
                u16::from_ne_bytes([bytes[off + 6], bytes[off + 7]]) | libc::NLM_F_ACK as u16;
            bytes[off + 6..off + 8].copy_from_slice(&flags.to_ne_bytes());
            w.next_seq - 1
        });
        let end_seq = w.next_seq;
        // SAFETY: nftnl_batch_end writes a 20-byte message.
        unsafe { w.buf.push(|p| sys::nftnl_batch_end(p, end_seq)) };
        FinishedBatch {
            buf: w.buf,
            begin_seq,
            seqs: 2..end_seq,
            last_seq,
        }
    }
}

/// Non-batch requests (GETs and dumps), one or more back to back.
pub(in crate::kernel::nft) struct Requests {
    w: Writer,
}

impl Requests {
    pub(in crate::kernel::nft) fn new(family: u16, table: &str) -> Requests {
        Requests {
            w: Writer::new(family, table, 1),
        }
    }

    fn get(&mut self, kind: libc::c_int, payload: Payload<'_>) -> u32 {
        self.w.msg(kind, 0, payload)
    }

    fn dump(&mut self, kind: libc::c_int, payload: Payload<'_>) -> u32 {
        self.w.msg(kind, libc::NLM_F_DUMP, payload)
    }

    /// Address the following requests to another family and table.
    pub(in crate::kernel::nft) fn target(&mut self, family: u16, table: &str) {
        self.w.target(family, table);
    }

    /// GETTABLE for our table: a NEWTABLE answer, or ENOENT.
    pub(in crate::kernel::nft) fn get_table(&mut self) -> u32 {
        let t = self.w.table();
        self.get(libc::NFT_MSG_GETTABLE, Payload::Table(&t))
    }

    /// GETCHAIN for one chain of the request's table: a NEWCHAIN answer, or
    /// ENOENT when the table or the chain does not exist. (A GETRULE dump
    /// of a missing chain is just empty.)
    pub(in crate::kernel::nft) fn get_chain(&mut self, chain: &str) -> u32 {
        let ch = self.w.chain(Some(chain));
        self.get(libc::NFT_MSG_GETCHAIN, Payload::Chain(&ch))
    }

    /// Dump the chains of our table.
    pub(in crate::kernel::nft) fn dump_chains(&mut self) -> u32 {
        let ch = self.w.chain(None);
        self.dump(libc::NFT_MSG_GETCHAIN, Payload::Chain(&ch))
    }

    /// Dump the chains of every table of the request's family (NFPROTO_UNSPEC:
    /// all families), hostnet's and everyone else's (for `check`'s warnings).
    pub(in crate::kernel::nft) fn dump_all_chains(&mut self) -> u32 {
        let ch = NlChain::new();
        self.dump(libc::NFT_MSG_GETCHAIN, Payload::Chain(&ch))
    }

    /// Dump the rules of our table (all chains).
    pub(in crate::kernel::nft) fn dump_rules(&mut self) -> u32 {
        let r = self.w.rule(None, &[]);
        self.dump(libc::NFT_MSG_GETRULE, Payload::Rule(&r))
    }

    /// Dump the rules of one chain of the request's table (ENOENT when the
    /// table or the chain does not exist).
    pub(in crate::kernel::nft) fn dump_chain_rules(&mut self, chain: &str) -> u32 {
        let r = self.w.rule(Some(chain), &[]);
        self.dump(libc::NFT_MSG_GETRULE, Payload::Rule(&r))
    }

    /// Dump the sets of our table.
    pub(in crate::kernel::nft) fn dump_sets(&mut self) -> u32 {
        let s = NlSet::new();
        let t = cstring(&self.w.table);
        // SAFETY: s is live; libnftnl copies the string.
        unsafe { sys::nftnl_set_set_str(s.ptr(), sys::NFTNL_SET_TABLE as u16, t.as_ptr()) };
        self.dump(libc::NFT_MSG_GETSET, Payload::Set(&s))
    }

    /// Dump the elements of one set.
    pub(in crate::kernel::nft) fn dump_elems(&mut self, set: &str) -> u32 {
        let s = self.w.set(set);
        self.dump(libc::NFT_MSG_GETSETELEM, Payload::Elems(&s))
    }

    /// GET one element by key: a NEWSETELEM answer, or ENOENT. O(1) in the
    /// size of the set (a hash lookup in the kernel).
    pub(in crate::kernel::nft) fn get_elem(&mut self, set: &str, key: &[u8]) -> u32 {
        let s = self.w.set(set);
        add_elem(
            &s,
            &Elem {
                key: key.to_vec(),
                ..Elem::default()
            },
        );
        self.get(libc::NFT_MSG_GETSETELEM, Payload::Elems(&s))
    }

    pub(in crate::kernel::nft) fn len(&self) -> usize {
        (self.w.next_seq - 1) as usize
    }

    /// The requests, back to back, as one datagram.
    pub(super) fn bytes(&self) -> &[u8] {
        self.w.buf.bytes()
    }
}
