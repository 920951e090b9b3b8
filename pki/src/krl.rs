//! OpenSSH key revocation lists (KRLs): an encoder for the binary format of
//! OpenSSH's `PROTOCOL.krl`, which `sshd` reads through `RevokedKeys` and
//! `ssh-keygen -Q` checks keys against. The `ssh-key` crate has none.
//!
//! What it is: a pure value type. [`Krl`] collects revocations (certificate
//! serials and key IDs per CA, plain keys, SHA-256 key fingerprints) and
//! [`Krl::to_bytes`] writes them out deterministically: the same revocations
//! give the same bytes, whatever order they were added in. It does no I/O
//! and reads no clock (the caller supplies `generated_date`).
//!
//! It also reads KRLs back ([`Krl::from_bytes`]: ward's own and those
//! `ssh-keygen -k` writes) and answers what sshd would answer for a
//! certificate or key ([`Krl::certificate_revocation`], [`Krl::key_revoked`]),
//! which is what [`crate::sshverify`] checks revocation with. The reader fails
//! closed: a KRL with anything it does not fully understand (SHA-1
//! fingerprint or signature sections, unknown section types, trailing bytes,
//! a bitmap over OpenSSH's bignum limit, serial 0) is an error, never a
//! partial revocation set.
//!
//! What it is not: a signer. KRL signature sections are never written, and
//! are refused when read (OpenSSH ≥ 9.4 refuses KRLs that carry them;
//! distribute the KRL over a trusted channel or sign it with
//! `ssh-keygen -Y sign`).
//!
//! Rules of OpenSSH's parser (`krl.c`, checked against ssh-keygen 9.2) that
//! this encoder keeps, because breaking any one of them makes sshd reject the
//! whole KRL rather than just one entry:
//!
//! - serial 0 is never revoked (it means "no serial"; `krl.c` refuses
//!   `lo == 0`), and a range has `min <= max`;
//! - a serial bitmap is an SSH `mpint`, so it is non-negative (a leading zero
//!   byte when the top bit is set) and at most `SSHBUF_MAX_BIGNUM` = 2048
//!   bytes (+1 sign byte) long, i.e. spans at most 16384 serials. ssh-keygen
//!   9.2 itself violates this for dense serial sets and then cannot read its
//!   own KRL ("bignum is too large");
//! - key IDs and the comment are read as C strings: no NUL bytes;
//! - fingerprints are exactly 32 bytes, and "must appear in numeric order";
//!   every list here (key IDs, keys, hashes, CA sections) is written sorted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ssh_key::public::KeyData;
use ssh_key::{Certificate, HashAlg, PublicKey};

/// `"SSHKRL\n\0"`.
const KRL_MAGIC: &[u8; 8] = b"SSHKRL\n\0";
const KRL_FORMAT_VERSION: u32 = 1;

const KRL_SECTION_CERTIFICATES: u8 = 1;
const KRL_SECTION_EXPLICIT_KEY: u8 = 2;
const KRL_SECTION_FINGERPRINT_SHA1: u8 = 3;
const KRL_SECTION_SIGNATURE: u8 = 4;
const KRL_SECTION_FINGERPRINT_SHA256: u8 = 5;

const KRL_SECTION_CERT_SERIAL_LIST: u8 = 0x20;
const KRL_SECTION_CERT_SERIAL_RANGE: u8 = 0x21;
const KRL_SECTION_CERT_SERIAL_BITMAP: u8 = 0x22;
const KRL_SECTION_CERT_KEY_ID: u8 = 0x23;

/// OpenSSH's `SSHBUF_MAX_BIGNUM`: the longest mpint it reads, in bytes (not
/// counting the zero byte that keeps the top bit clear). A bitmap of this
/// many bytes covers 16384 serials.
const MAX_BITMAP_BYTES: u64 = 2048;
const MAX_BITMAP_SPAN: u64 = MAX_BITMAP_BYTES * 8;

/// Encoded sizes in bytes, for choosing how to write a group of serials.
/// A range subsection: type, length, min, max.
const RANGE_COST: u64 = 1 + 4 + 8 + 8;
/// A bitmap subsection without its bits: type, length, offset, mpint length,
/// and (at worst) the mpint's sign byte.
const BITMAP_OVERHEAD: u64 = 1 + 4 + 8 + 4 + 1;
/// One entry in the (single, shared) list subsection.
const LIST_ENTRY_COST: u64 = 8;
/// Two runs of revoked serials join one bitmap when the unrevoked gap
/// between them costs fewer bits than starting another bitmap.
const MAX_BITMAP_GAP: u64 = BITMAP_OVERHEAD * 8;
/// A run longer than this is always written as a range: as bitmap bits it
/// would cost more than a range subsection.
const MAX_BITMAP_RUN: u64 = RANGE_COST * 8;

/// Why a revocation or the KRL could not be encoded. All of these are the
/// caller's fault (`Malformed`), except `Key`, which is a key that the
/// `ssh-key` crate cannot serialise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KrlError {
    /// Serial 0 cannot be revoked: OpenSSH treats it as "no serial", ignores
    /// it when checking certificates, and rejects a KRL that lists it.
    /// Revoke such certificates by key ID.
    ZeroSerial,
    /// A serial range whose first serial is after its last.
    InvertedRange {
        /// First serial of the range.
        first: u64,
        /// Last serial of the range.
        last: u64,
    },
    /// A string that OpenSSH reads as a C string contains a NUL byte.
    NulByte {
        /// Which string: `"comment"` or `"key_id"`.
        field: &'static str,
    },
    /// A public key could not be serialised.
    Key(ssh_key::Error),
    /// A string or section is longer than the 2^32 − 1 bytes an SSH string
    /// can hold.
    TooLarge,
    /// [`Krl::from_bytes`]: the bytes are not a KRL this reader fully
    /// understands (the reason says where).
    Malformed(String),
}

impl fmt::Display for KrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KrlError::ZeroSerial => write!(
                f,
                "serial 0 cannot be revoked in a KRL (OpenSSH ignores it); revoke by key ID"
            ),
            KrlError::InvertedRange { first, last } => {
                write!(f, "serial range {first}-{last} is inverted")
            }
            KrlError::NulByte { field } => write!(f, "the KRL {field} contains a NUL byte"),
            KrlError::Key(e) => write!(f, "cannot encode the public key: {e}"),
            KrlError::TooLarge => write!(f, "KRL string or section exceeds 4 GiB"),
            KrlError::Malformed(m) => write!(f, "not a usable KRL: {m}"),
        }
    }
}

impl std::error::Error for KrlError {}

impl From<ssh_key::Error> for KrlError {
    fn from(e: ssh_key::Error) -> KrlError {
        KrlError::Key(e)
    }
}

/// A key revocation list. Build it with the `revoke_…` methods, then write
/// it with [`Krl::to_bytes`].
///
/// What each kind of revocation covers, as sshd checks it:
/// - a serial or key ID revokes certificates signed by that CA (or by any CA
///   for [`Krl::revoke_key_id_any_ca`]);
/// - a plain key ([`Krl::revoke_key`]) or its SHA-256 fingerprint revokes the
///   key itself and every certificate made for it, and, if the key is a CA
///   key, every certificate that CA signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Krl {
    krl_version: u64,
    generated_date: u64,
    comment: String,
    /// Per CA, keyed by the CA's public key blob; the empty blob is the
    /// wildcard ("any CA"), which no real key encodes to.
    certs: BTreeMap<Vec<u8>, RevokedCerts>,
    /// Public key blobs (plain keys, never certificates).
    keys: BTreeSet<Vec<u8>>,
    sha256: BTreeSet<[u8; 32]>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RevokedCerts {
    serials: SerialSet,
    key_ids: BTreeSet<String>,
}

/// A set of serials as disjoint, non-adjacent inclusive ranges `lo..=hi`,
/// keyed by `lo`. Every `lo` is at least 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SerialSet {
    ranges: BTreeMap<u64, u64>,
}

impl SerialSet {
    /// Adds `lo..=hi` (`1 <= lo <= hi`), merging it with the ranges it
    /// overlaps or touches.
    fn insert(&mut self, mut lo: u64, mut hi: u64) {
        // Any range that starts at or before hi + 1 and ends at or after
        // lo - 1 merges. Walk back from the last range starting at or
        // before hi + 1; ranges are disjoint, so once one ends before
        // lo - 1, all earlier ones do too.
        while let Some((&s, &e)) = self.ranges.range(..=hi.saturating_add(1)).next_back() {
            if e < lo - 1 {
                break;
            }
            self.ranges.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.ranges.insert(lo, hi);
    }

    fn runs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&lo, &hi)| (lo, hi))
    }

    fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn contains(&self, serial: u64) -> bool {
        self.ranges
            .range(..=serial)
            .next_back()
            .is_some_and(|(_, &hi)| serial <= hi)
    }
}

/// Why [`Krl::certificate_revocation`] found a certificate revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Its serial is revoked for its CA (or for any CA).
    Serial(u64),
    /// Its key ID is revoked for its CA (or for any CA).
    KeyId(String),
    /// The certified public key is revoked (as a key or by fingerprint).
    Key,
    /// The CA key that signed it is revoked (as a key or by fingerprint).
    CaKey,
}

impl fmt::Display for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revocation::Serial(s) => write!(f, "serial {s} is revoked"),
            Revocation::KeyId(id) => write!(f, "key ID \"{}\" is revoked", id.escape_debug()),
            Revocation::Key => f.write_str("the certified key is revoked"),
            Revocation::CaKey => f.write_str("the signing CA key is revoked"),
        }
    }
}

impl Krl {
    /// An empty KRL. `krl_version` should grow with each KRL published;
    /// `generated_date` is seconds since the Unix epoch (sshd only logs it).
    /// The comment must not contain a NUL byte.
    pub fn new(krl_version: u64, generated_date: u64, comment: &str) -> Result<Krl, KrlError> {
        check_cstring(comment, "comment")?;
        Ok(Krl {
            krl_version,
            generated_date,
            comment: comment.to_owned(),
            certs: BTreeMap::new(),
            keys: BTreeSet::new(),
            sha256: BTreeSet::new(),
        })
    }

    /// Revokes the certificate with serial `serial` signed by `ca`.
    pub fn revoke_serial(&mut self, ca: &PublicKey, serial: u64) -> Result<(), KrlError> {
        self.revoke_serial_range(ca, serial, serial)
    }

    /// Revokes the certificates with serials `first..=last` signed by `ca`.
    pub fn revoke_serial_range(
        &mut self,
        ca: &PublicKey,
        first: u64,
        last: u64,
    ) -> Result<(), KrlError> {
        if first == 0 {
            return Err(KrlError::ZeroSerial);
        }
        if first > last {
            return Err(KrlError::InvertedRange { first, last });
        }
        let ca = ca.to_bytes()?;
        self.certs
            .entry(ca)
            .or_default()
            .serials
            .insert(first, last);
        Ok(())
    }

    /// Revokes every certificate signed by `ca` whose key ID is `key_id`.
    pub fn revoke_key_id(&mut self, ca: &PublicKey, key_id: &str) -> Result<(), KrlError> {
        let ca = ca.to_bytes()?;
        self.insert_key_id(ca, key_id)
    }

    /// Revokes every certificate whose key ID is `key_id`, whoever signed it
    /// (a certificate section with an empty CA key).
    pub fn revoke_key_id_any_ca(&mut self, key_id: &str) -> Result<(), KrlError> {
        self.insert_key_id(Vec::new(), key_id)
    }

    fn insert_key_id(&mut self, ca: Vec<u8>, key_id: &str) -> Result<(), KrlError> {
        check_cstring(key_id, "key_id")?;
        self.certs
            .entry(ca)
            .or_default()
            .key_ids
            .insert(key_id.to_owned());
        Ok(())
    }

    /// Revokes a plain public key: the key itself, every certificate issued
    /// for it, and (if it is a CA key) every certificate it signed.
    pub fn revoke_key(&mut self, key: &PublicKey) -> Result<(), KrlError> {
        self.keys.insert(key.to_bytes()?);
        Ok(())
    }

    /// Revokes the key whose SHA-256 fingerprint (of its public key blob) is
    /// `fingerprint`, with the same reach as [`Krl::revoke_key`]. This needs
    /// OpenSSH ≥ 7.9 to read the KRL.
    pub fn revoke_sha256(&mut self, fingerprint: [u8; 32]) {
        self.sha256.insert(fingerprint);
    }

    /// [`Krl::revoke_sha256`] with the fingerprint of `key`.
    pub fn revoke_key_sha256(&mut self, key: &PublicKey) {
        if let Some(fp) = key.fingerprint(HashAlg::Sha256).sha256() {
            self.revoke_sha256(fp);
        }
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.keys.is_empty() && self.sha256.is_empty()
    }

    /// The KRL in OpenSSH's binary format (unsigned). Deterministic.
    ///
    /// Layout: header; one `KRL_SECTION_CERTIFICATES` per CA, sorted by CA
    /// key blob (the any-CA section, with its empty blob, first), each with
    /// at most one serial list, then ranges and bitmaps in ascending serial
    /// order, then one key ID subsection; one `KRL_SECTION_EXPLICIT_KEY`; one
    /// `KRL_SECTION_FINGERPRINT_SHA256`. Empty sections are left out.
    ///
    /// Fails only if something exceeds the 4 GiB of an SSH string; note that
    /// OpenSSH will not load a KRL file over 128 MiB (`SSHBUF_SIZE_MAX`).
    pub fn to_bytes(&self) -> Result<Vec<u8>, KrlError> {
        let mut out = Vec::new();
        out.extend_from_slice(KRL_MAGIC);
        put_u32(&mut out, KRL_FORMAT_VERSION);
        put_u64(&mut out, self.krl_version);
        put_u64(&mut out, self.generated_date);
        put_u64(&mut out, 0); // flags: none defined
        put_string(&mut out, b"")?; // reserved
        put_string(&mut out, self.comment.as_bytes())?;

        for (ca, revoked) in &self.certs {
            let mut sect = Vec::new();
            put_string(&mut sect, ca)?;
            put_string(&mut sect, b"")?; // reserved
            encode_serials(&revoked.serials, &mut sect)?;
            if !revoked.key_ids.is_empty() {
                let mut ids = Vec::new();
                for id in &revoked.key_ids {
                    put_string(&mut ids, id.as_bytes())?;
                }
                put_section(&mut sect, KRL_SECTION_CERT_KEY_ID, &ids)?;
            }
            put_section(&mut out, KRL_SECTION_CERTIFICATES, &sect)?;
        }

        if !self.keys.is_empty() {
            let mut sect = Vec::new();
            for key in &self.keys {
                put_string(&mut sect, key)?;
            }
            put_section(&mut out, KRL_SECTION_EXPLICIT_KEY, &sect)?;
        }

        if !self.sha256.is_empty() {
            let mut sect = Vec::new();
            for fp in &self.sha256 {
                put_string(&mut sect, fp)?;
            }
            put_section(&mut out, KRL_SECTION_FINGERPRINT_SHA256, &sect)?;
        }
        Ok(out)
    }
}

impl Krl {
    /// Reads a KRL in OpenSSH's binary format: ward's own output and what
    /// `ssh-keygen -k` writes. Reading ward's output gives back an equal
    /// [`Krl`]. Fails closed (see the module documentation): SHA-1
    /// fingerprint and signature sections, unknown sections and any
    /// malformed or trailing data are errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Krl, KrlError> {
        let mut r = Reader::new(bytes);
        if r.take(KRL_MAGIC.len())? != KRL_MAGIC {
            return Err(malformed("bad magic: not an OpenSSH KRL"));
        }
        let format = r.u32()?;
        if format != KRL_FORMAT_VERSION {
            return Err(KrlError::Malformed(format!(
                "format version {format} (only {KRL_FORMAT_VERSION} is known)"
            )));
        }
        let krl_version = r.u64()?;
        let generated_date = r.u64()?;
        let _flags = r.u64()?;
        let _reserved = r.string()?;
        let comment = cstring(r.string()?, "comment")?;
        let mut krl = Krl::new(krl_version, generated_date, &comment)?;
        while !r.is_empty() {
            let kind = r.u8()?;
            let mut body = Reader::new(r.string()?);
            match kind {
                KRL_SECTION_CERTIFICATES => krl.read_cert_section(&mut body)?,
                KRL_SECTION_EXPLICIT_KEY => {
                    while !body.is_empty() {
                        let blob = canonical_key_blob(body.string()?)?;
                        krl.keys.insert(blob);
                    }
                }
                KRL_SECTION_FINGERPRINT_SHA256 => {
                    while !body.is_empty() {
                        let fp: [u8; 32] = body
                            .string()?
                            .try_into()
                            .map_err(|_| malformed("a SHA-256 fingerprint is not 32 bytes long"))?;
                        krl.sha256.insert(fp);
                    }
                }
                KRL_SECTION_FINGERPRINT_SHA1 => {
                    return Err(malformed("SHA-1 fingerprint sections are not supported"))
                }
                KRL_SECTION_SIGNATURE => {
                    return Err(malformed(
                        "signed KRLs are not supported (nor by OpenSSH ≥ 9.4)",
                    ))
                }
                other => return Err(KrlError::Malformed(format!("unknown section type {other}"))),
            }
        }
        Ok(krl)
    }

    fn read_cert_section(&mut self, body: &mut Reader<'_>) -> Result<(), KrlError> {
        let ca = match body.string()? {
            [] => Vec::new(),
            blob => canonical_key_blob(blob)?,
        };
        let _reserved = body.string()?;
        let mut revoked = self.certs.remove(&ca).unwrap_or_default();
        while !body.is_empty() {
            let kind = body.u8()?;
            let mut sub = Reader::new(body.string()?);
            match kind {
                KRL_SECTION_CERT_SERIAL_LIST => {
                    while !sub.is_empty() {
                        let serial = nonzero(sub.u64()?)?;
                        revoked.serials.insert(serial, serial);
                    }
                }
                KRL_SECTION_CERT_SERIAL_RANGE => {
                    let (lo, hi) = (nonzero(sub.u64()?)?, sub.u64()?);
                    if lo > hi {
                        return Err(KrlError::InvertedRange {
                            first: lo,
                            last: hi,
                        });
                    }
                    revoked.serials.insert(lo, hi);
                }
                KRL_SECTION_CERT_SERIAL_BITMAP => {
                    let offset = sub.u64()?;
                    read_bitmap(offset, sub.string()?, &mut revoked.serials)?;
                }
                KRL_SECTION_CERT_KEY_ID => {
                    while !sub.is_empty() {
                        let id = cstring(sub.string()?, "key_id")?;
                        revoked.key_ids.insert(id);
                    }
                }
                other => {
                    return Err(KrlError::Malformed(format!(
                        "unknown certificate subsection type {other}"
                    )))
                }
            }
            if !sub.is_empty() {
                return Err(malformed("trailing bytes in a certificate subsection"));
            }
        }
        if !(revoked.serials.is_empty() && revoked.key_ids.is_empty()) {
            self.certs.insert(ca, revoked);
        }
        Ok(())
    }

    /// Whether sshd would refuse `key` as a plain key: it is revoked
    /// explicitly or by its SHA-256 fingerprint.
    pub fn key_revoked(&self, key: &KeyData) -> bool {
        if let Ok(blob) = PublicKey::new(key.clone(), "").to_bytes() {
            if self.keys.contains(&blob) {
                return true;
            }
        }
        key.fingerprint(HashAlg::Sha256)
            .sha256()
            .is_some_and(|fp| self.sha256.contains(&fp))
    }

    /// Why sshd would refuse `cert` under this KRL, or `None` if it is not
    /// revoked. As OpenSSH's `krl.c`: the certified key or the signing CA
    /// key revoked outright; the serial (never serial 0) or the key ID
    /// revoked for the signing CA or for any CA. The signature is not
    /// checked here (see [`crate::sshverify`]).
    pub fn certificate_revocation(&self, cert: &Certificate) -> Option<Revocation> {
        if self.key_revoked(cert.public_key()) {
            return Some(Revocation::Key);
        }
        if self.key_revoked(cert.signature_key()) {
            return Some(Revocation::CaKey);
        }
        let ca = PublicKey::new(cert.signature_key().clone(), "")
            .to_bytes()
            .ok();
        let sections = [
            ca.and_then(|ca| self.certs.get(&ca)),
            self.certs.get(&Vec::new()),
        ];
        for revoked in sections.into_iter().flatten() {
            if revoked.key_ids.contains(cert.key_id()) {
                return Some(Revocation::KeyId(cert.key_id().to_owned()));
            }
            if cert.serial() != 0 && revoked.serials.contains(cert.serial()) {
                return Some(Revocation::Serial(cert.serial()));
            }
        }
        None
    }
}

fn malformed(m: &str) -> KrlError {
    KrlError::Malformed(m.to_owned())
}

fn nonzero(serial: u64) -> Result<u64, KrlError> {
    match serial {
        0 => Err(KrlError::ZeroSerial),
        s => Ok(s),
    }
}

fn cstring(bytes: &[u8], field: &'static str) -> Result<String, KrlError> {
    let s = std::str::from_utf8(bytes)
        .map_err(|_| KrlError::Malformed(format!("the {field} is not UTF-8")))?;
    check_cstring(s, field)?;
    Ok(s.to_owned())
}

/// A public key blob as ward writes it: parsed and re-encoded, so that
/// lookups compare canonical encodings.
fn canonical_key_blob(blob: &[u8]) -> Result<Vec<u8>, KrlError> {
    let key = PublicKey::from_bytes(blob)
        .map_err(|e| KrlError::Malformed(format!("a revoked key does not parse: {e}")))?;
    Ok(key.to_bytes()?)
}

/// Adds the serials of a bitmap subsection (an mpint: bit N revokes serial
/// `offset + N`) as runs.
fn read_bitmap(offset: u64, mpint: &[u8], serials: &mut SerialSet) -> Result<(), KrlError> {
    if mpint.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(malformed("negative serial bitmap"));
    }
    let digits = match mpint {
        [0, rest @ ..] => rest,
        all => all,
    };
    if digits.len() as u64 > MAX_BITMAP_BYTES {
        return Err(malformed(
            "serial bitmap over OpenSSH's 2048-byte bignum limit",
        ));
    }
    let mut run: Option<(u64, u64)> = None;
    let nbits = digits.len() * 8;
    for bit in 0..nbits {
        let byte = digits[digits.len() - 1 - bit / 8];
        if byte & (1 << (bit % 8)) == 0 {
            continue;
        }
        let serial = offset
            .checked_add(bit as u64)
            .ok_or_else(|| malformed("serial bitmap runs past the largest serial"))?;
        let serial = nonzero(serial)?;
        run = match run {
            Some((lo, hi)) if hi + 1 == serial => Some((lo, serial)),
            Some((lo, hi)) => {
                serials.insert(lo, hi);
                Some((serial, serial))
            }
            None => Some((serial, serial)),
        };
    }
    if let Some((lo, hi)) = run {
        serials.insert(lo, hi);
    }
    Ok(())
}

/// A cursor over SSH wire data (big-endian integers, length-prefixed
/// strings); every read past the end is a [`KrlError::Malformed`].
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], KrlError> {
        if n > self.rest.len() {
            return Err(malformed("truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, KrlError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, KrlError> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| malformed("truncated"))?;
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, KrlError> {
        let b: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| malformed("truncated"))?;
        Ok(u64::from_be_bytes(b))
    }

    fn string(&mut self) -> Result<&'a [u8], KrlError> {
        let len = usize::try_from(self.u32()?).map_err(|_| malformed("truncated"))?;
        self.take(len)
    }
}

fn check_cstring(s: &str, field: &'static str) -> Result<(), KrlError> {
    if s.as_bytes().contains(&0) {
        return Err(KrlError::NulByte { field });
    }
    Ok(())
}

/// How one group of runs is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    List,
    Ranges,
    Bitmap,
}

/// Writes the serial subsections of one certificate section.
///
/// Runs of revoked serials are grouped: a long run stands alone; short runs
/// close enough together (and within one bitmap's reach) form a group. Each
/// group goes out in whichever of list entries, range subsections or one
/// bitmap is smallest. All list entries share one list subsection, written
/// first; ranges and bitmaps follow in ascending order. OpenSSH's parser
/// accepts subsections in any order and merges what they revoke.
fn encode_serials(serials: &SerialSet, sect: &mut Vec<u8>) -> Result<(), KrlError> {
    if serials.is_empty() {
        return Ok(());
    }
    let mut list: Vec<u64> = Vec::new();
    let mut rest: Vec<u8> = Vec::new();
    let mut group: Vec<(u64, u64)> = Vec::new();
    for (lo, hi) in serials.runs() {
        let long = hi - lo >= MAX_BITMAP_RUN;
        // Runs are disjoint and non-adjacent, so lo > end + 1 below.
        let joins = match (group.first(), group.last()) {
            (Some(&(start, _)), Some(&(_, end))) => {
                !long && lo - end - 1 <= MAX_BITMAP_GAP && hi - start < MAX_BITMAP_SPAN
            }
            _ => !long,
        };
        if !joins {
            emit_group(&group, &mut list, &mut rest)?;
            group.clear();
        }
        if long {
            put_range(&mut rest, lo, hi)?;
        } else {
            group.push((lo, hi));
        }
    }
    emit_group(&group, &mut list, &mut rest)?;

    if !list.is_empty() {
        let mut body = Vec::with_capacity(list.len().saturating_mul(8));
        for serial in list {
            put_u64(&mut body, serial);
        }
        put_section(sect, KRL_SECTION_CERT_SERIAL_LIST, &body)?;
    }
    sect.extend_from_slice(&rest);
    Ok(())
}

/// Chooses the smallest encoding for a group of short runs: disjoint,
/// ascending, spanning at most `MAX_BITMAP_SPAN` serials.
fn choose_encoding(group: &[(u64, u64)]) -> Encoding {
    let (Some(&(start, _)), Some(&(_, end))) = (group.first(), group.last()) else {
        return Encoding::List;
    };
    let count: u64 = group.iter().map(|&(lo, hi)| hi - lo + 1).sum();
    let span = end - start + 1;
    let list = count.saturating_mul(LIST_ENTRY_COST);
    let ranges = (group.len() as u64).saturating_mul(RANGE_COST);
    let bitmap = BITMAP_OVERHEAD + span.div_ceil(8);
    if list <= ranges && list <= bitmap {
        Encoding::List
    } else if bitmap <= ranges {
        Encoding::Bitmap
    } else {
        Encoding::Ranges
    }
}

fn emit_group(
    group: &[(u64, u64)],
    list: &mut Vec<u64>,
    rest: &mut Vec<u8>,
) -> Result<(), KrlError> {
    match choose_encoding(group) {
        Encoding::List => {
            for &(lo, hi) in group {
                list.extend(lo..=hi);
            }
        }
        Encoding::Ranges => {
            for &(lo, hi) in group {
                put_range(rest, lo, hi)?;
            }
        }
        Encoding::Bitmap => {
            if let Some(&(start, _)) = group.first() {
                let mut body = Vec::new();
                put_u64(&mut body, start);
                put_string(&mut body, &bitmap_mpint(start, group))?;
                put_section(rest, KRL_SECTION_CERT_SERIAL_BITMAP, &body)?;
            }
        }
    }
    Ok(())
}

/// The mpint body for a bitmap at offset `start`: bit N (counting from the
/// least significant bit) revokes serial `start + N`. Big-endian, no
/// leading zero bytes except one to keep the top bit clear (mpints are
/// signed; OpenSSH rejects negative ones). The caller keeps the span within
/// `MAX_BITMAP_SPAN`, so the mpint stays within OpenSSH's bignum limit.
fn bitmap_mpint(start: u64, runs: &[(u64, u64)]) -> Vec<u8> {
    let Some(&(_, end)) = runs.last() else {
        return Vec::new();
    };
    // The caller already bounds the span by MAX_BITMAP_SPAN; the `min`
    // caps the allocation whatever this is given.
    let span = usize::try_from((end - start + 1).min(MAX_BITMAP_SPAN)).unwrap_or(0);
    let nbytes = span.div_ceil(8);
    let mut bytes = vec![0u8; nbytes];
    for &(lo, hi) in runs {
        for serial in lo..=hi {
            if let Ok(bit) = usize::try_from(serial - start) {
                if let Some(byte) = bytes.get_mut(nbytes - 1 - bit / 8) {
                    *byte |= 1 << (bit % 8);
                }
            }
        }
    }
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    bytes
}

fn put_range(out: &mut Vec<u8>, lo: u64, hi: u64) -> Result<(), KrlError> {
    let mut body = Vec::with_capacity(16);
    put_u64(&mut body, lo);
    put_u64(&mut body, hi);
    put_section(out, KRL_SECTION_CERT_SERIAL_RANGE, &body)
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) -> Result<(), KrlError> {
    let len = u32::try_from(s.len()).map_err(|_| KrlError::TooLarge)?;
    put_u32(out, len);
    out.extend_from_slice(s);
    Ok(())
}

/// A (sub)section: a type byte, then the body as an SSH string.
fn put_section(out: &mut Vec<u8>, kind: u8, body: &[u8]) -> Result<(), KrlError> {
    out.push(kind);
    put_string(out, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let mut s = SerialSet::default();
        for &(lo, hi) in ranges {
            s.insert(lo, hi);
        }
        s.runs().collect()
    }

    type Runs = &'static [(u64, u64)];

    #[test]
    fn serial_ranges_coalesce() {
        let cases: &[(Runs, Runs)] = &[
            (&[(5, 5)], &[(5, 5)]),
            (&[(5, 5), (5, 5)], &[(5, 5)]),
            (&[(5, 5), (6, 6)], &[(5, 6)]),
            (&[(6, 6), (5, 5)], &[(5, 6)]),
            (&[(5, 5), (7, 7)], &[(5, 5), (7, 7)]),
            (&[(5, 5), (7, 7), (6, 6)], &[(5, 7)]),
            (&[(1, 3), (10, 12), (20, 22), (2, 21)], &[(1, 22)]),
            (&[(10, 20), (12, 13)], &[(10, 20)]),
            (&[(10, 20), (21, 30), (1, 9)], &[(1, 30)]),
            (&[(u64::MAX, u64::MAX), (1, u64::MAX - 1)], &[(1, u64::MAX)]),
            (
                &[(u64::MAX - 1, u64::MAX), (u64::MAX, u64::MAX)],
                &[(u64::MAX - 1, u64::MAX)],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(set(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn bitmap_is_a_non_negative_mpint() {
        // Serials 10 and 12 from offset 10: bits 0 and 2.
        assert_eq!(bitmap_mpint(10, &[(10, 10), (12, 12)]), vec![0b101]);
        // Eight serials: top bit set, so a zero sign byte goes first.
        assert_eq!(bitmap_mpint(1, &[(1, 8)]), vec![0, 0xff]);
        // Nine: two bytes, top byte 0x01.
        assert_eq!(bitmap_mpint(1, &[(1, 9)]), vec![0x01, 0xff]);
        // The largest bitmap: 2048 bytes plus the sign byte.
        let big = bitmap_mpint(1, &[(1, 1), (MAX_BITMAP_SPAN, MAX_BITMAP_SPAN)]);
        assert_eq!(big.len(), 2049);
        assert_eq!((big[0], big[1], big[2048]), (0, 0x80, 1));
    }

    #[test]
    fn encoding_choice() {
        assert_eq!(choose_encoding(&[(7, 7)]), Encoding::List);
        assert_eq!(choose_encoding(&[(7, 8)]), Encoding::List);
        assert_eq!(choose_encoding(&[(7, 9)]), Encoding::Bitmap);
        assert_eq!(choose_encoding(&[(7, 100)]), Encoding::Ranges);
        assert_eq!(choose_encoding(&[(1, 1), (100, 100)]), Encoding::List);
        let dense: Vec<(u64, u64)> = (0..100).map(|i| (1 + 3 * i, 1 + 3 * i)).collect();
        assert_eq!(choose_encoding(&dense), Encoding::Bitmap);
    }

    #[test]
    fn header_and_empty_krl() {
        let krl = Krl::new(7, 0x0102, "hi").unwrap();
        let mut want = b"SSHKRL\n\0".to_vec();
        want.extend_from_slice(&1u32.to_be_bytes());
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&0x0102u64.to_be_bytes());
        want.extend_from_slice(&0u64.to_be_bytes());
        want.extend_from_slice(&0u32.to_be_bytes());
        want.extend_from_slice(&2u32.to_be_bytes());
        want.extend_from_slice(b"hi");
        assert_eq!(krl.to_bytes().unwrap(), want);
        assert!(krl.is_empty());
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(
            Krl::new(1, 1, "a\0b").unwrap_err(),
            KrlError::NulByte { field: "comment" }
        );
        let mut krl = Krl::new(1, 1, "").unwrap();
        assert_eq!(
            krl.revoke_key_id_any_ca("x\0").unwrap_err(),
            KrlError::NulByte { field: "key_id" }
        );
        assert!(krl.is_empty());
    }
}
