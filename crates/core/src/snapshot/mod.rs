//! The snapshot format: everything needed to continue a guest elsewhere.
//!
//! Binary form (all integers little-endian):
//!
//! ```text
//! magic "WSSNAP\r\n" | version u32 | payload length u64 | payload | crc32 u32
//! payload: fingerprint [32] | flags u8 (bit 0: NaN canonicalization)
//!          | status u8 | phase u8 | entry (u32 len + UTF-8)
//!          | gas balance i64 | gas used u64
//!          | memory: u8 present [| byte length u64 | encoded length u64 | encoded]
//!          | globals: u32 count, u64 raw bits each
//!          | dropped-segment masks: u32 count, u64 each
//!          | unwind frames: u32 length + bytes
//!          | table: u8 present [| u32 count | u32 each (function ordinal, or u32::MAX for null)]
//!          | wasi: u8 present [| WASI state]                       (version 2 on)
//! WASI state: args: u32 count, (u32 length + UTF-8) each | env: the same
//!          | unread stdin: u64 length + bytes | random: 4 × u64 (xoshiro256** state)
//!          | clock offset u64 (ns slept) | closed stdio fds: u8 mask
//!          | exit code: u8 present [| u32] | stdout: u64 length + bytes
//!          | stderr: u64 length + bytes
//! ```
//!
//! Version 1 (no WASI section) is still read.
//!
//! Memory is encoded as 8-byte words in records of
//! `varint zero-words | varint literal-words | literal bytes`, so zero runs
//! cost a few bytes. The CRC-32 covers everything before it. The JSON form
//! carries the same fields (byte fields in base64) plus the CRC-32 of the
//! binary form, so edits are detected there too.
//!
//! Snapshots are untrusted input: the readers check every length and never
//! panic; a structurally valid but crafted snapshot can at worst make the
//! guest trap (the unwind frames are checked by the guest code itself).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runtime::Status;
use crate::wasi::WasiState;

/// Version written by this build (2: the WASI section). Version 1 is read
/// too.
pub const VERSION: u32 = 2;
/// Oldest version this build reads.
pub const MIN_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"WSSNAP\r\n";
/// Magic, version and payload length.
const HEADER_LEN: usize = 20;
/// Largest entry name accepted.
const MAX_ENTRY_LEN: usize = 4096;
/// Largest memory a snapshot may describe (4 GiB).
const MAX_MEMORY_BYTES: u64 = 1 << 32;

/// Which export a paused or ready executor runs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The module's start function (it runs first, pausable).
    Start,
    /// The entry export.
    Entry,
}

/// A saved executor state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    fingerprint: [u8; 32],
    canonicalize_nans: bool,
    status: Status,
    phase: Phase,
    entry: String,
    gas_balance: i64,
    gas_used: u64,
    /// (length in bytes, encoded words)
    memory: Option<(u64, Vec<u8>)>,
    globals: Vec<u64>,
    drop_masks: Vec<u64>,
    unwind: Vec<u8>,
    /// Table slots (function ordinals; `u32::MAX` = null) when the module
    /// changes its table at run time.
    table: Option<Vec<u32>>,
    /// The WASI state, when the executor has WASI on.
    wasi: Option<WasiState>,
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::SnapshotCorrupt(msg.into())
}

impl Snapshot {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        fingerprint: [u8; 32],
        canonicalize_nans: bool,
        status: Status,
        phase: Phase,
        entry: String,
        gas_balance: i64,
        gas_used: u64,
        memory: Option<&[u8]>,
        nonzero_pages: Option<&[u64]>,
        globals: Vec<u64>,
        drop_masks: Vec<u64>,
        unwind: Vec<u8>,
        table: Option<Vec<u32>>,
        wasi: Option<WasiState>,
    ) -> Snapshot {
        Snapshot {
            fingerprint,
            canonicalize_nans,
            status,
            phase,
            entry,
            gas_balance,
            gas_used,
            memory: memory.map(|m| (m.len() as u64, encode_memory(m, nonzero_pages))),
            globals,
            drop_masks,
            unwind,
            table,
            wasi,
        }
    }

    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }
    pub fn canonicalize_nans(&self) -> bool {
        self.canonicalize_nans
    }
    pub fn status(&self) -> Status {
        self.status
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn entry(&self) -> &str {
        &self.entry
    }
    pub fn gas_balance(&self) -> i64 {
        self.gas_balance
    }
    pub fn gas_used(&self) -> u64 {
        self.gas_used
    }
    /// Guest memory size in bytes, `None` when the guest has no memory.
    pub fn memory_len(&self) -> Option<u64> {
        self.memory.as_ref().map(|(len, _)| *len)
    }
    pub fn globals(&self) -> &[u64] {
        &self.globals
    }
    pub fn drop_masks(&self) -> &[u64] {
        &self.drop_masks
    }
    pub fn unwind(&self) -> &[u8] {
        &self.unwind
    }
    pub fn table(&self) -> Option<&[u32]> {
        self.table.as_deref()
    }
    /// The WASI state (`None` when the executor had WASI off).
    pub fn wasi(&self) -> Option<&WasiState> {
        self.wasi.as_ref()
    }

    /// Writes the saved memory into `dest` (of the saved length). Bytes of
    /// `dest` from `zero_from` on must already be zero (freshly grown
    /// pages): they are not touched where the snapshot has zeros.
    pub fn write_memory(&self, dest: &mut [u8], zero_from: usize) -> Result<()> {
        self.write_memory_over(dest, zero_from, None)
    }

    /// [`Snapshot::write_memory`] over a memory whose possibly nonzero
    /// 4 KiB pages are known (`nonzero`, a bitmap as
    /// [`Snapshot::nonzero_pages`] makes; pages past its end count as
    /// possibly nonzero): where the snapshot has zeros, only those pages
    /// are checked and cleared.
    pub(crate) fn write_memory_over(
        &self,
        dest: &mut [u8],
        zero_from: usize,
        nonzero: Option<&[u64]>,
    ) -> Result<()> {
        match &self.memory {
            Some((len, enc)) if *len == dest.len() as u64 => {
                decode_memory(enc, dest, zero_from, nonzero)
            }
            _ => Err(corrupt("memory length mismatch")),
        }
    }

    /// A bitmap of the 4 KiB pages of the saved memory (bit `i % 64` of
    /// word `i / 64` for page `i`) that hold a literal, i.e. every page
    /// with a nonzero byte; empty without a memory. A memory written from
    /// this snapshot (and not changed since) is zero outside these pages.
    pub(crate) fn nonzero_pages(&self) -> Vec<u64> {
        let Some((len, enc)) = &self.memory else {
            return Vec::new();
        };
        let pages = len.div_ceil(PAGE_BYTES as u64) as usize;
        let mut bits = vec![0u64; pages.div_ceil(64)];
        // A parsed or encoded snapshot's encoding is valid.
        let _ = walk_encoding(enc, *len, |w, lit, n| {
            if lit.is_some() && n > 0 {
                let first = (w * 8) as usize / PAGE_BYTES;
                let last = ((w + n) * 8 - 1) as usize / PAGE_BYTES;
                for page in first..=last {
                    bits[page / 64] |= 1 << (page % 64);
                }
            }
        });
        bits
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode(VERSION)
    }

    /// The binary form in format `version` (1 has no WASI section; only
    /// used to check the CRC of version-1 JSON).
    fn encode(&self, version: u32) -> Vec<u8> {
        // One allocation: the header is put in front at the end (a move
        // within the capacity), the CRC after.
        let mem_len = self.memory.as_ref().map(|(_, e)| e.len()).unwrap_or(0);
        let mut p = Vec::with_capacity(
            HEADER_LEN
                + 128
                + self.entry.len()
                + mem_len
                + 8 * (self.globals.len() + self.drop_masks.len())
                + self.unwind.len()
                + 4 * self.table.as_ref().map(|t| t.len()).unwrap_or(0)
                + 4,
        );
        p.extend_from_slice(&self.fingerprint);
        p.push(self.canonicalize_nans as u8);
        p.push(match self.status {
            Status::Ready => 0,
            Status::Paused => 1,
            Status::Finished => 2,
            Status::Trapped => 3,
        });
        p.push(match self.phase {
            Phase::Start => 0,
            Phase::Entry => 1,
        });
        p.extend_from_slice(&(self.entry.len() as u32).to_le_bytes());
        p.extend_from_slice(self.entry.as_bytes());
        p.extend_from_slice(&self.gas_balance.to_le_bytes());
        p.extend_from_slice(&self.gas_used.to_le_bytes());
        match &self.memory {
            None => p.push(0),
            Some((len, enc)) => {
                p.push(1);
                p.extend_from_slice(&len.to_le_bytes());
                p.extend_from_slice(&(enc.len() as u64).to_le_bytes());
                p.extend_from_slice(enc);
            }
        }
        for list in [&self.globals, &self.drop_masks] {
            p.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for v in list {
                p.extend_from_slice(&v.to_le_bytes());
            }
        }
        p.extend_from_slice(&(self.unwind.len() as u32).to_le_bytes());
        p.extend_from_slice(&self.unwind);
        match &self.table {
            None => p.push(0),
            Some(slots) => {
                p.push(1);
                p.extend_from_slice(&(slots.len() as u32).to_le_bytes());
                for s in slots {
                    p.extend_from_slice(&s.to_le_bytes());
                }
            }
        }
        if version >= 2 {
            match &self.wasi {
                None => p.push(0),
                Some(w) => {
                    p.push(1);
                    encode_wasi(&mut p, w);
                }
            }
        }

        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&version.to_le_bytes());
        header[12..20].copy_from_slice(&(p.len() as u64).to_le_bytes());
        p.splice(0..0, header);
        let crc = crc32fast::hash(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    /// Parses the binary form. Never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("not a wasm-sandbox snapshot (bad magic)"));
        }
        if bytes.len() < 24 {
            return Err(corrupt("truncated header"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
            return Err(corrupt("checksum mismatch (truncated or modified)"));
        }
        if !(MIN_VERSION..=VERSION).contains(&version) {
            return Err(Error::SnapshotVersion {
                found: version,
                supported: VERSION,
            });
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        let payload = &body[20..];
        if payload.len() as u64 != len {
            return Err(corrupt("payload length mismatch"));
        }
        let mut r = Reader { buf: payload };
        let fingerprint: [u8; 32] = r.take(32)?.try_into().unwrap();
        let flags = r.u8()?;
        if flags > 1 {
            return Err(corrupt("unknown flags"));
        }
        let status = match r.u8()? {
            0 => Status::Ready,
            1 => Status::Paused,
            2 => Status::Finished,
            _ => return Err(corrupt("invalid status")),
        };
        let phase = match r.u8()? {
            0 => Phase::Start,
            1 => Phase::Entry,
            _ => return Err(corrupt("invalid phase")),
        };
        let entry_len = r.u32()? as usize;
        if entry_len > MAX_ENTRY_LEN {
            return Err(corrupt("entry name too long"));
        }
        let entry = String::from_utf8(r.take(entry_len)?.to_vec())
            .map_err(|_| corrupt("entry name is not UTF-8"))?;
        let gas_balance = r.u64()? as i64;
        let gas_used = r.u64()?;
        let memory = match r.u8()? {
            0 => None,
            1 => {
                let mem_len = r.u64()?;
                if mem_len > MAX_MEMORY_BYTES || mem_len % 65536 != 0 {
                    return Err(corrupt("invalid memory size"));
                }
                let enc_len = r.u64()?;
                let enc = r.take(usize::try_from(enc_len).map_err(|_| corrupt("too large"))?)?;
                validate_encoding(enc, mem_len)?;
                Some((mem_len, enc.to_vec()))
            }
            _ => return Err(corrupt("invalid memory flag")),
        };
        let mut lists = [Vec::new(), Vec::new()];
        for list in lists.iter_mut() {
            let n = r.u32()? as usize;
            if n > r.buf.len() / 8 {
                return Err(corrupt("list longer than the data"));
            }
            for _ in 0..n {
                list.push(r.u64()?);
            }
        }
        let [globals, drop_masks] = lists;
        let unwind_len = r.u32()? as usize;
        let unwind = r.take(unwind_len)?.to_vec();
        let table = match r.u8()? {
            0 => None,
            1 => {
                let n = r.u32()? as usize;
                if n > r.buf.len() / 4 {
                    return Err(corrupt("table longer than the data"));
                }
                Some((0..n).map(|_| r.u32()).collect::<Result<Vec<_>>>()?)
            }
            _ => return Err(corrupt("invalid table flag")),
        };
        let wasi = if version >= 2 {
            match r.u8()? {
                0 => None,
                1 => Some(decode_wasi(&mut r)?),
                _ => return Err(corrupt("invalid WASI flag")),
            }
        } else {
            None
        };
        if !r.buf.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(Snapshot {
            fingerprint,
            canonicalize_nans: flags == 1,
            status,
            phase,
            entry,
            gas_balance,
            gas_used,
            memory,
            globals,
            drop_masks,
            unwind,
            table,
            wasi,
        })
    }

    /// The CRC-32 the binary form of `version` ends with.
    fn binary_checksum(&self, version: u32) -> u32 {
        let bytes = self.encode(version);
        u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap())
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = JsonSnapshot {
            format: JSON_FORMAT.into(),
            version: VERSION,
            fingerprint: hex(&self.fingerprint),
            canonicalize_nans: self.canonicalize_nans,
            status: self.status.as_str().into(),
            phase: match self.phase {
                Phase::Start => "start".into(),
                Phase::Entry => "entry".into(),
            },
            entry: self.entry.clone(),
            gas_balance: self.gas_balance.to_string(),
            gas_used: self.gas_used.to_string(),
            memory: self.memory.as_ref().map(|(len, enc)| JsonMemory {
                bytes: len.to_string(),
                encoding: "zero-run-words".into(),
                data: b64.encode(enc),
            }),
            globals: self.globals.iter().map(|g| g.to_string()).collect(),
            drop_masks: self.drop_masks.iter().map(|g| g.to_string()).collect(),
            unwind: b64.encode(&self.unwind),
            table: self.table.clone(),
            wasi: self.wasi.as_ref().map(|w| JsonWasi {
                args: w.args().to_vec(),
                env: w.env().to_vec(),
                stdin: b64.encode(w.unread_stdin()),
                random: w.random_state().iter().map(|x| x.to_string()).collect(),
                clock_offset: w.clock_offset().to_string(),
                closed_fds: w.closed_fds(),
                exit_code: w.exit_code(),
                stdout: b64.encode(w.stdout()),
                stderr: b64.encode(w.stderr()),
            }),
            checksum: self.binary_checksum(VERSION),
        };
        serde_json::to_string(&json).expect("snapshot JSON serializes")
    }

    /// Parses the JSON form. Never panics.
    pub fn from_json(text: &str) -> Result<Snapshot> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let j: JsonSnapshot =
            serde_json::from_str(text).map_err(|e| corrupt(format!("invalid JSON: {e}")))?;
        if j.format != JSON_FORMAT {
            return Err(corrupt("not a wasm-sandbox snapshot"));
        }
        if !(MIN_VERSION..=VERSION).contains(&j.version) {
            return Err(Error::SnapshotVersion {
                found: j.version,
                supported: VERSION,
            });
        }
        if j.version < 2 && j.wasi.is_some() {
            return Err(corrupt("WASI state in a version 1 snapshot"));
        }
        let num = |s: &str| -> Result<u64> {
            s.parse().map_err(|_| corrupt(format!("bad number {s:?}")))
        };
        let fingerprint = unhex(&j.fingerprint)?;
        let status = match j.status.as_str() {
            "ready" => Status::Ready,
            "paused" => Status::Paused,
            "finished" => Status::Finished,
            _ => return Err(corrupt("invalid status")),
        };
        let phase = match j.phase.as_str() {
            "start" => Phase::Start,
            "entry" => Phase::Entry,
            _ => return Err(corrupt("invalid phase")),
        };
        let memory = match j.memory {
            None => None,
            Some(m) => {
                if m.encoding != "zero-run-words" {
                    return Err(corrupt("unknown memory encoding"));
                }
                let len = num(&m.bytes)?;
                if len > MAX_MEMORY_BYTES || len % 65536 != 0 {
                    return Err(corrupt("invalid memory size"));
                }
                let enc = b64
                    .decode(m.data)
                    .map_err(|_| corrupt("memory is not base64"))?;
                validate_encoding(&enc, len)?;
                Some((len, enc))
            }
        };
        let snap = Snapshot {
            fingerprint,
            canonicalize_nans: j.canonicalize_nans,
            status,
            phase,
            entry: j.entry,
            gas_balance: j
                .gas_balance
                .parse()
                .map_err(|_| corrupt("bad gasBalance"))?,
            gas_used: num(&j.gas_used)?,
            memory,
            globals: j.globals.iter().map(|g| num(g)).collect::<Result<_>>()?,
            drop_masks: j.drop_masks.iter().map(|g| num(g)).collect::<Result<_>>()?,
            unwind: b64
                .decode(j.unwind)
                .map_err(|_| corrupt("unwind is not base64"))?,
            table: j.table,
            wasi: match j.wasi {
                None => None,
                Some(w) => {
                    let bytes = |s: String, what: &str| {
                        b64.decode(s)
                            .map_err(|_| corrupt(format!("WASI {what} is not base64")))
                    };
                    let random: Vec<u64> =
                        w.random.iter().map(|x| num(x)).collect::<Result<_>>()?;
                    let random: [u64; 4] = random
                        .try_into()
                        .map_err(|_| corrupt("WASI random state must have 4 words"))?;
                    Some(WasiState::from_parts(
                        w.args,
                        w.env,
                        bytes(w.stdin, "stdin")?,
                        random,
                        num(&w.clock_offset)?,
                        w.closed_fds,
                        w.exit_code,
                        bytes(w.stdout, "stdout")?,
                        bytes(w.stderr, "stderr")?,
                    )?)
                }
            },
        };
        if snap.binary_checksum(j.version) != j.checksum {
            return Err(corrupt("checksum mismatch (modified)"));
        }
        Ok(snap)
    }
}

const JSON_FORMAT: &str = "wasm-sandbox-snapshot";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonSnapshot {
    format: String,
    version: u32,
    fingerprint: String,
    canonicalize_nans: bool,
    status: String,
    phase: String,
    entry: String,
    gas_balance: String,
    gas_used: String,
    memory: Option<JsonMemory>,
    globals: Vec<String>,
    drop_masks: Vec<String>,
    unwind: String,
    table: Option<Vec<u32>>,
    /// Absent in version 1.
    #[serde(default)]
    wasi: Option<JsonWasi>,
    checksum: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonWasi {
    args: Vec<String>,
    env: Vec<String>,
    /// Unread stdin, base64.
    stdin: String,
    /// The xoshiro256** state, 4 decimal u64.
    random: Vec<String>,
    /// Nanoseconds slept, decimal.
    clock_offset: String,
    closed_fds: u8,
    exit_code: Option<u32>,
    stdout: String,
    stderr: String,
}

fn put_bytes64(p: &mut Vec<u8>, bytes: &[u8]) {
    p.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    p.extend_from_slice(bytes);
}

fn encode_wasi(p: &mut Vec<u8>, w: &WasiState) {
    for list in [w.args(), w.env()] {
        p.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for s in list {
            p.extend_from_slice(&(s.len() as u32).to_le_bytes());
            p.extend_from_slice(s.as_bytes());
        }
    }
    put_bytes64(p, w.unread_stdin());
    for word in w.random_state() {
        p.extend_from_slice(&word.to_le_bytes());
    }
    p.extend_from_slice(&w.clock_offset().to_le_bytes());
    p.push(w.closed_fds());
    match w.exit_code() {
        None => p.push(0),
        Some(code) => {
            p.push(1);
            p.extend_from_slice(&code.to_le_bytes());
        }
    }
    put_bytes64(p, w.stdout());
    put_bytes64(p, w.stderr());
}

fn decode_wasi(r: &mut Reader) -> Result<WasiState> {
    let mut lists = [Vec::new(), Vec::new()];
    for list in lists.iter_mut() {
        let n = r.u32()? as usize;
        if n > r.buf.len() / 4 {
            return Err(corrupt("WASI list longer than the data"));
        }
        for _ in 0..n {
            let len = r.u32()? as usize;
            let s = String::from_utf8(r.take(len)?.to_vec())
                .map_err(|_| corrupt("WASI string is not UTF-8"))?;
            list.push(s);
        }
    }
    let [args, env] = lists;
    let stdin = r.bytes64()?.to_vec();
    let mut random = [0u64; 4];
    for word in random.iter_mut() {
        *word = r.u64()?;
    }
    let clock_offset = r.u64()?;
    let closed = r.u8()?;
    let exit_code = match r.u8()? {
        0 => None,
        1 => Some(r.u32()?),
        _ => return Err(corrupt("invalid exit code flag")),
    };
    let stdout = r.bytes64()?.to_vec();
    let stderr = r.bytes64()?.to_vec();
    WasiState::from_parts(
        args,
        env,
        stdin,
        random,
        clock_offset,
        closed,
        exit_code,
        stdout,
        stderr,
    )
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonMemory {
    bytes: String,
    encoding: String,
    data: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<[u8; 32]> {
    // Lower-case only, as written: one spelling per snapshot.
    if s.len() != 64 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(corrupt("bad fingerprint"));
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o =
            u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| corrupt("bad fingerprint"))?;
    }
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(corrupt("truncated"));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// `u64 length + bytes`.
    fn bytes64(&mut self) -> Result<&'a [u8]> {
        let len = self.u64()?;
        self.take(usize::try_from(len).map_err(|_| corrupt("truncated"))?)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf
            .get(*pos)
            .ok_or_else(|| corrupt("truncated memory encoding"))?;
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(corrupt("varint too long"))
}

/// Encodes memory (length a multiple of 8) as zero-run/literal records over
/// 8-byte words. The 4 KiB pages that `nonzero` (as from
/// [`Snapshot::nonzero_pages`]) leaves out are known to be zero and are not
/// read; without it every word is.
pub(crate) fn encode_memory(mem: &[u8], nonzero: Option<&[u64]>) -> Vec<u8> {
    // Wasm memories are page-aligned, so the words are read in place; other
    // slices (tests) are copied first.
    // SAFETY: every bit pattern is a valid u64.
    let (head, aligned, tail) = unsafe { mem.align_to::<u64>() };
    let copied: Vec<u64>;
    let words: &[u64] = if head.is_empty() && tail.is_empty() {
        aligned
    } else {
        copied = mem
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        &copied
    };
    // Large memories: one pass into a buffer of the largest possible size
    // (records alternate zero runs of at least two words and literals, so
    // there are at most n / 2 + 1 of them): only the pages written are ever
    // touched, and the rest is given back at the end. Small ones: a growing
    // buffer, because a worst-case buffer past the allocator's mmap
    // threshold costs a map and an unmap per snapshot (10 µs for 64 KiB).
    let mut out = if mem.len() > 1 << 20 {
        Vec::with_capacity(mem.len() + 20 * (words.len() / 2 + 1))
    } else {
        Vec::new()
    };
    zero_runs(words, nonzero, |zeros, l0, end| {
        put_varint(&mut out, zeros as u64);
        put_varint(&mut out, (end - l0) as u64);
        out.extend_from_slice(&mem[l0 * 8..end * 8]);
    });
    out.shrink_to_fit();
    out
}

/// Calls `f(zero words, literal start, literal end)` for each record of the
/// encoding of `words`: a literal ends at a run of at least two zero words
/// (or a zero word at the very end). Pages that `nonzero` leaves out are
/// taken as zero without reading them.
fn zero_runs(words: &[u64], nonzero: Option<&[u64]>, mut f: impl FnMut(usize, usize, usize)) {
    let n = words.len();
    let mut i = 0;
    while i < n {
        let z0 = i;
        loop {
            // Whole known-zero pages are skipped unread; the others are
            // scanned up to their end, so the next can be skipped too.
            while i % PAGE_WORDS == 0
                && i + PAGE_WORDS <= n
                && !maybe_nonzero(nonzero, i / PAGE_WORDS)
            {
                i += PAGE_WORDS;
            }
            let end = match nonzero {
                Some(_) => n.min((i / PAGE_WORDS + 1) * PAGE_WORDS),
                None => n,
            };
            // Zero runs are skipped in blocks first (an OR of the words: a
            // slice compare would call memcmp for every 64 bytes).
            i += zero_blocks(&words[i..end]);
            while i < end && words[i] == 0 {
                i += 1;
            }
            if i < end || i == n {
                break;
            }
        }
        let zeros = i - z0;
        let l0 = i;
        while i < n && !(words[i] == 0 && (i + 1 == n || words[i + 1] == 0)) {
            i += 1;
        }
        f(zeros, l0, i);
    }
}

/// Whether every word is zero; branch-free, so it vectorizes.
#[inline(always)]
fn all_zero(words: &[u64]) -> bool {
    words.iter().fold(0, |acc, w| acc | w) == 0
}

/// How many leading words of `words` are zero, counted in whole blocks (a
/// multiple of 8, at most the zero prefix).
///
/// The blocks grow from 32 words while they are zero, up to a 4 KiB page
/// checked by one branch-free (AVX2 where the CPU has it) pass: long zero
/// runs, most of a typical memory, take far fewer instructions than in
/// 32-word steps (a snapshot of a paused 1-page fib: 10.8k -> 5.2k), though
/// hardly less time (3 %: the scan runs at the cache's bandwidth either
/// way). A failed block is at most twice the zeros skipped before it, so
/// data after short zero runs costs at most that again; the rest of the
/// run is then found in blocks of 32 and 8.
fn zero_blocks(words: &[u64]) -> usize {
    let n = words.len();
    let mut i = 0;
    let mut step = 32;
    while i + step <= n && words_zero(&words[i..i + step]) {
        i += step;
        step = (step * 2).min(PAGE_WORDS);
    }
    // Less than `step` words of the run are left: look for them in blocks
    // of 32 only when a larger block was what failed (32 words just did).
    if step > 32 {
        while i + 32 <= n && all_zero(&words[i..i + 32]) {
            i += 32;
        }
    }
    while i + 8 <= n && all_zero(&words[i..i + 8]) {
        i += 8;
    }
    i
}

/// Words in a 4 KiB page.
const PAGE_WORDS: usize = 512;

// `all_zero` compiled for AVX2 (twice the bytes per instruction of the
// baseline x86-64 SSE2), used when the CPU has it: the encoder's zero runs
// and a restore's check of the zero pages over a recycled instance that
// may be nonzero.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn words_zero_avx2(words: &[u64]) -> bool {
    all_zero(words)
}

fn words_zero(words: &[u64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { words_zero_avx2(words) };
    }
    all_zero(words)
}

/// Whether every byte is zero (whole words at a time).
fn bytes_zero(bytes: &[u8]) -> bool {
    // SAFETY: every bit pattern is a valid u64.
    let (head, words, tail) = unsafe { bytes.align_to::<u64>() };
    words_zero(words) && head.iter().chain(tail).all(|b| *b == 0)
}

fn walk_encoding(
    enc: &[u8],
    mem_len: u64,
    mut sink: impl FnMut(u64, Option<&[u8]>, u64),
) -> Result<()> {
    let words = mem_len / 8;
    let mut pos = 0usize;
    let mut w = 0u64;
    while pos < enc.len() {
        let zeros = get_varint(enc, &mut pos)?;
        let lits = get_varint(enc, &mut pos)?;
        if zeros > words - w || lits > words - w - zeros {
            return Err(corrupt("memory encoding overruns the memory"));
        }
        sink(w, None, zeros);
        w += zeros;
        let bytes = (lits * 8) as usize;
        if bytes > enc.len() - pos {
            return Err(corrupt("truncated memory literal"));
        }
        sink(w, Some(&enc[pos..pos + bytes]), lits);
        pos += bytes;
        w += lits;
    }
    if w != words {
        return Err(corrupt("memory encoding does not cover the memory"));
    }
    Ok(())
}

fn validate_encoding(enc: &[u8], mem_len: u64) -> Result<()> {
    walk_encoding(enc, mem_len, |_, _, _| {})
}

/// The pages of [`Snapshot::nonzero_pages`] and of the zero checks of a
/// restore.
const PAGE_BYTES: usize = PAGE_WORDS * 8;

/// Whether the 4 KiB page `page` may hold a nonzero byte by the map
/// `nonzero` ([`Snapshot::nonzero_pages`]): pages beyond the map, and every
/// page without one, may.
fn maybe_nonzero(nonzero: Option<&[u64]>, page: usize) -> bool {
    nonzero.is_none_or(|bits| {
        bits.get(page / 64)
            .is_none_or(|b| b & (1 << (page % 64)) != 0)
    })
}

fn decode_memory(
    enc: &[u8],
    dest: &mut [u8],
    zero_from: usize,
    nonzero: Option<&[u64]>,
) -> Result<()> {
    let len = dest.len() as u64;
    walk_encoding(enc, len, |w, lit, n| {
        let start = (w * 8) as usize;
        let end = start + (n * 8) as usize;
        match lit {
            // Only where needed: writing (or even reading) untouched pages
            // of a fresh memory makes the kernel map them; pages known to
            // be zero are not even read.
            None => {
                let end = end.min(zero_from.max(start));
                let mut at = start;
                while at < end {
                    let page = at / PAGE_BYTES;
                    let next = ((page + 1) * PAGE_BYTES).min(end);
                    let chunk = &mut dest[at..next];
                    if maybe_nonzero(nonzero, page) && !bytes_zero(chunk) {
                        chunk.fill(0);
                    }
                    at = next;
                }
            }
            Some(bytes) => dest[start..end].copy_from_slice(bytes),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(mem: &[u8]) {
        let enc = encode_memory(mem, None);
        let mut out = vec![0xAAu8; mem.len()];
        decode_memory(&enc, &mut out, mem.len(), None).unwrap();
        assert_eq!(out, mem);
    }

    fn with_memory(mem: &[u8]) -> Snapshot {
        Snapshot::new(
            [0; 32],
            false,
            Status::Paused,
            Phase::Entry,
            "entry".into(),
            0,
            0,
            Some(mem),
            None,
            vec![],
            vec![],
            vec![],
            None,
            None,
        )
    }

    #[test]
    fn nonzero_pages_cover_every_nonzero_byte_and_guide_the_zero_checks() {
        // 70 pages of 4 KiB (a bitmap of two words); nonzero bytes on page
        // 2, on both sides of the boundary of pages 5 and 6, and on page 69.
        let mut mem = vec![0u8; 70 * 4096];
        mem[2 * 4096 + 100] = 1;
        mem[6 * 4096 - 1] = 2;
        mem[6 * 4096] = 3;
        mem[69 * 4096 + 4095] = 4;
        let snap = with_memory(&mem);
        let bits = snap.nonzero_pages();
        let pages: Vec<usize> = (0..70)
            .filter(|p| bits[p / 64] & (1 << (p % 64)) != 0)
            .collect();
        assert_eq!(pages, [2, 5, 6, 69]);
        assert!(with_memory(&[0; 8192])
            .nonzero_pages()
            .iter()
            .all(|b| *b == 0));
        // Over a memory with garbage on pages 2, 7 and 65: with the map of
        // those pages, the zeros are checked there only; garbage elsewhere
        // (page 8, not in the map) is left, as the map says it is zero.
        let mut dest = vec![0u8; mem.len()];
        for page in [2, 7, 8, 65] {
            dest[page * 4096 + 7] = 0xEE;
        }
        let mut map = vec![0u64; 2];
        for page in [2usize, 7, 65] {
            map[page / 64] |= 1 << (page % 64);
        }
        snap.write_memory_over(&mut dest, mem.len(), Some(&map))
            .unwrap();
        let mut expected = mem.clone();
        expected[8 * 4096 + 7] = 0xEE;
        assert_eq!(dest, expected);
        // A map shorter than the memory: the pages past it are checked.
        let mut dest = vec![0xEEu8; mem.len()];
        snap.write_memory_over(&mut dest, mem.len(), Some(&[u64::MAX]))
            .unwrap();
        assert_eq!(dest, mem);
        // Without a map, everything below `zero_from` is checked.
        let mut dest = vec![0xEEu8; mem.len()];
        snap.write_memory(&mut dest, mem.len()).unwrap();
        assert_eq!(dest, mem);
    }

    #[test]
    fn zero_scans_find_every_nonzero_word_and_byte() {
        // Up to past two pages and the largest block (512 words), a
        // nonzero word at every place.
        for n in [0usize, 1, 7, 8, 9, 31, 32, 33, 100, 511, 512, 513, 1100] {
            let mut words = vec![0u64; n];
            assert_eq!(zero_blocks(&words), n / 8 * 8, "all zero, {n} words");
            for at in 0..n {
                words[at] = 1 << (at % 64);
                let got = zero_blocks(&words);
                assert!(
                    got <= at && got.is_multiple_of(8) && at - got < 8,
                    "{n} words, nonzero at {at}: {got}"
                );
                words[at] = 0;
            }
        }
        // Unaligned starts and ends, a nonzero byte anywhere.
        let mut bytes = vec![0u8; 4096 + 16];
        for start in 0..9 {
            for end in [start, start + 1, 4096, 4096 + 7] {
                assert!(bytes_zero(&bytes[start..end]));
                for at in start..end {
                    bytes[at] = 0x80;
                    assert!(!bytes_zero(&bytes[start..end]), "{start}..{end}, at {at}");
                    bytes[at] = 0;
                }
            }
        }
    }

    #[test]
    fn memory_encoding_roundtrips() {
        roundtrip(&[0u8; 65536]);
        let mut m = vec![0u8; 65536];
        m[0] = 1;
        m[65535] = 2;
        m[4000..4100].fill(7);
        roundtrip(&m);
        let random: Vec<u8> = (0..65536u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        roundtrip(&random);
        // A lone zero word inside a literal and at the very end.
        let mut m = vec![1u8; 64];
        m[8..16].fill(0);
        m[56..64].fill(0);
        roundtrip(&m);
    }

    #[test]
    fn a_page_map_only_skips_reading_pages_it_knows_are_zero() {
        // 9 pages of 4 KiB; nonzero words at the start, middle and end of
        // pages and across a page boundary. Any map that marks at least the
        // nonzero pages gives the encoding of the unguided scan; a page the
        // map leaves out is not read (a nonzero word planted there is not
        // seen, which shows the skip).
        let pages = 9;
        let mut mem = vec![0u8; pages * 4096];
        for at in [
            0,
            8,
            4096 + 2048,
            3 * 4096 - 8,
            3 * 4096,
            6 * 4096 + 4088,
            9 * 4096 - 1,
        ] {
            mem[at] = 0x5a;
        }
        let full = encode_memory(&mem, None);
        let needed: u64 = 0b1_0100_1111; // pages 0, 1, 2, 3, 6 and 8
        for extra in [0u64, 0b1_0000, 0b1_1111_1111, u64::MAX << 9, !0] {
            let map = [needed | extra];
            assert_eq!(
                encode_memory(&mem, Some(&map)),
                full,
                "extra pages {extra:#b}"
            );
        }
        // A map shorter than the memory: the pages beyond it are read.
        assert_eq!(encode_memory(&mem, Some(&[])), full);
        let mut planted = mem.clone();
        planted[4 * 4096 + 16] = 1;
        assert_eq!(encode_memory(&planted, Some(&[needed])), full);
        assert_ne!(encode_memory(&planted, Some(&[needed | 1 << 4])), full);
    }

    #[test]
    fn zero_memory_is_tiny() {
        assert!(encode_memory(&vec![0u8; 64 << 20], None).len() < 16);
    }
}
