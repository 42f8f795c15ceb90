//! The rooms-config: the operator's description of service points, their remote-service devices, agencies and
//! people, read from a directory of TOML files into one typed, validated, immutable [`RoomsConfig`] snapshot.
//!
//! Every remote-service device has its own permanent virtual room, so the list of devices *is* the list of
//! rooms: a device's id is its room's address (`mikkeli-2`) and also the subject of the device's access token.
//!
//! # File layout
//!
//! ```text
//! rooms-config/
//! ├── agencies.toml               [[agency]]  id, name, rule?, windows?, [[agency.service]]
//! ├── people.toml                 [[person]]  id, name, role, agency?, service_point?, languages?, password_hash,
//! │                                           availability?, [[person.availability_exception]], services?,
//! │                                           stand_ins?
//! ├── service-points/
//! │   ├── mikkeli.toml            id, name, municipality, opening_hours?, [[opening_exception]],
//! │                               [[device]] id, name, credential_hash
//! │   └── …                       one file per service point, named after its id
//! └── README.md                   (anything that is not *.toml is ignored)
//! ```
//!
//! `agencies.toml` and `people.toml` must exist (they may hold no entries). Names starting with `.` (editor
//! locks, `.git`) are skipped. Any other `*.toml` file anywhere in the tree is an error that names the file, so a
//! misplaced or misspelt file never goes unnoticed.
//!
//! # Validation rules
//!
//! - Unknown fields are errors (a typo must not pass silently); missing or mistyped fields are errors.
//! - Every id (agency, service point, device, person) is a slug: 1 to 64 characters of `a-z`, `0-9` and `-`,
//!   not starting with `-` (the rule of [`RoomId`] and [`SubjectId`]).
//! - Ids are unique within their kind, and device ids and person ids share one namespace: both are token
//!   subjects, so a person may not have a device's id.
//! - A service point's `id` equals its file's stem (`service-points/mikkeli.toml` has `id = "mikkeli"`).
//! - `role` is one of `advisor`, `expert`, `interpreter`, `scheduler`, `admin` (`device` is not a person's role:
//!   devices are declared in the service-point files).
//! - Experts must name an existing `agency`; advisors must name an existing `service_point`; nobody else may
//!   have either.
//! - `languages` are BCP 47 tags (`fi`, `sv`, `en`, `se`, `fse` Finnish Sign Language, `fss` Finland-Swedish
//!   Sign Language), each at most once.
//! - `password_hash` and `credential_hash` are argon2 PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
//! - Names and municipalities are not blank.
//! - There is at least one device overall.
//! - The calendar (see `rooms-config/README.md`): an agency's `rule` is `walk_in_and_appointment` (the
//!   default), `appointment_only` or `fixed_windows` (which needs `windows`); services have a slug `id` unique
//!   across all agencies, a duration, buffers, notice and horizon within bounds; weekly times are written
//!   `"mon-fri 08:00-16:00"`; only experts and interpreters have an `availability`; only experts have `services`
//!   (of their own agency) and `stand_ins` (experts of the same agency).
//!
//! # Errors
//!
//! [`load_dir`] stops at the first problem and returns a [`ConfigError`] naming the file (relative to the
//! config directory), the 1-based line, the field path and what is wrong, e.g.
//! `people.toml:41: person[6].agency: unknown agency "kelaa" (known: dvv, kela, poliisi, te, vero)`.
//! Files are checked in a fixed order (stray files, `agencies.toml`, `service-points/*.toml` by name,
//! `people.toml`), so the same broken directory always gives the same error.
//!
//! # Change detection
//!
//! [`fingerprint_dir`] hashes the sorted relative paths and bytes of every `*.toml` file (64-bit FNV-1a, stable
//! across builds and platforms); [`RoomsConfig::fingerprint`] is the same value for the files a snapshot was
//! built from, so a reload loop can poll `fingerprint_dir` cheaply and reload only when it differs.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::scheduling::model::{parse_range, parse_weekly, AgencyCalendar, ExpertProfile, ServiceSpec};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::Spanned;
use vayla_domain::calendar::{AgencyRule, DateException, ExceptionChange, Schedule};
use vayla_domain::{Role, RoomId, SubjectId};

/// The agencies file, at the root of the config directory.
pub const AGENCIES_FILE: &str = "agencies.toml";
/// The people file, at the root of the config directory.
pub const PEOPLE_FILE: &str = "people.toml";
/// The folder of service-point files (`<id>.toml`), at the root of the config directory.
pub const SERVICE_POINTS_DIR: &str = "service-points";

/// Deepest folder nesting walked; guards against symlink loops.
const MAX_DEPTH: usize = 16;

/// One validated, immutable snapshot of the rooms-config directory.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomsConfig {
    /// By agency id.
    pub agencies: BTreeMap<String, Agency>,
    /// By service point id.
    pub service_points: BTreeMap<String, ServicePoint>,
    /// One device is one permanent room; the room id is the device id.
    pub devices: BTreeMap<RoomId, Device>,
    /// By person id.
    pub people: BTreeMap<SubjectId, Person>,
    /// [`fingerprint_dir`] of the files this snapshot was read from.
    pub fingerprint: u64,
}

/// An agency whose experts take calls (`kela`, `vero`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Agency {
    pub id: String,
    pub name: String,
    /// How it takes customers and the services it books: the seed of its calendar entry.
    pub calendar: AgencyCalendar,
}

/// A service point (*asiointipiste*): a municipal office with one or more remote-service devices.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePoint {
    pub id: String,
    pub name: String,
    pub municipality: String,
    /// When the point is open (its devices are bookable only then); closed on public holidays. Empty when the
    /// file names none: no appointments there.
    pub opening_hours: Schedule,
}

/// A remote-service device, and so one permanent virtual room whose address is the device's id.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The room's address, e.g. `mikkeli-2`.
    pub id: RoomId,
    /// The device's token subject: the same text as `id`.
    pub subject: SubjectId,
    pub name: String,
    /// The id of the service point whose file declares the device.
    pub service_point: String,
    /// Argon2 PHC string of the device's credential.
    pub credential_hash: String,
}

/// A person who signs in: an expert, advisor, interpreter, scheduler or admin (never [`Role::Device`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: SubjectId,
    pub name: String,
    pub role: Role,
    /// Set exactly for experts.
    pub agency: Option<String>,
    /// Set exactly for advisors.
    pub service_point: Option<String>,
    /// BCP 47 tags, in the order written.
    pub languages: Vec<String>,
    /// Argon2 PHC string of the person's password.
    pub password_hash: String,
    /// Weekly availability for appointments (experts and interpreters only); `None` when not given, which
    /// means never bookable.
    pub availability: Option<Schedule>,
    /// Services handled and stand-ins (experts only; the default for everyone else).
    pub expert: ExpertProfile,
}

impl RoomsConfig {
    /// The device whose permanent room this is.
    pub fn device(&self, room: &RoomId) -> Option<&Device> {
        self.devices.get(room)
    }

    pub fn person(&self, id: &SubjectId) -> Option<&Person> {
        self.people.get(id)
    }

    pub fn agency(&self, id: &str) -> Option<&Agency> {
        self.agencies.get(id)
    }

    pub fn service_point(&self, id: &str) -> Option<&ServicePoint> {
        self.service_points.get(id)
    }

    /// The devices of one service point, in id order.
    pub fn devices_of<'a>(&'a self, service_point: &'a str) -> impl Iterator<Item = &'a Device> + 'a {
        self.devices.values().filter(move |d| d.service_point == service_point)
    }

    /// A person's name, or a device's name when the subject is a device.
    pub fn display_name(&self, subject: &SubjectId) -> Option<&str> {
        if let Some(p) = self.people.get(subject) {
            return Some(&p.name);
        }
        let room = RoomId::new(subject.as_str()).ok()?;
        self.devices.get(&room).map(|d| d.name.as_str())
    }
}

/// What is wrong with the rooms-config, and where.
///
/// Displays as `file:line: field: message`, leaving out the line or the field when unknown, e.g.
/// `people.toml:41: person[6].agency: unknown agency "kelaa" (known: dvv, kela, poliisi, te, vero)` or
/// `service-points: no devices: …`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", Shown(self))]
pub struct ConfigError {
    /// Relative to the config directory; the directory itself (as given) when the directory can't be read.
    pub file: PathBuf,
    /// 1-based.
    pub line: Option<usize>,
    /// A path such as `device[1].credential_hash` or `person[3].role`.
    pub field: Option<String>,
    pub message: String,
}

struct Shown<'a>(&'a ConfigError);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(f, "{}", e.file.display())?;
        if let Some(line) = e.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &e.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", e.message)
    }
}

impl ConfigError {
    fn new(file: impl Into<PathBuf>, line: Option<usize>, field: Option<String>, message: impl Into<String>) -> Self {
        ConfigError { file: file.into(), line, field, message: message.into() }
    }
}

/// A cheap change detector: 64-bit FNV-1a over the sorted relative paths and the bytes of every `*.toml` file
/// under `dir` (recursive, skipping names that start with `.`). Equal to [`RoomsConfig::fingerprint`] of a
/// snapshot loaded from the same files.
pub fn fingerprint_dir(dir: &Path) -> io::Result<u64> {
    let files = collect(dir).map_err(|(rel, e)| {
        if rel.as_os_str().is_empty() {
            e
        } else {
            io::Error::new(e.kind(), format!("{}: {e}", rel.display()))
        }
    })?;
    Ok(fingerprint(&files))
}

/// Reads and validates the whole rooms-config directory. See the module docs for the layout and the rules.
pub fn load_dir(dir: &Path) -> Result<RoomsConfig, ConfigError> {
    let files = collect(dir).map_err(|(rel, e)| {
        if rel.as_os_str().is_empty() {
            ConfigError::new(dir, None, None, format!("cannot read the rooms-config directory: {e}"))
        } else {
            ConfigError::new(rel, None, None, format!("cannot read: {e}"))
        }
    })?;
    let fingerprint = fingerprint(&files);

    let mut agencies_src = None;
    let mut people_src = None;
    let mut service_point_srcs = Vec::new();
    for file in &files {
        match classify(&file.rel) {
            Kind::Agencies => agencies_src = Some(file),
            Kind::People => people_src = Some(file),
            Kind::ServicePoint(stem) => service_point_srcs.push((stem, file)),
            Kind::Stray => {
                return Err(ConfigError::new(
                    &file.rel,
                    None,
                    None,
                    format!(
                        "unexpected TOML file: the rooms-config reads only {AGENCIES_FILE}, {PEOPLE_FILE} and \
                         {SERVICE_POINTS_DIR}/<id>.toml (move, rename or remove it)"
                    ),
                ))
            }
        }
    }
    let missing =
        |name: &str| ConfigError::new(name, None, None, "file is missing (it is required, but may declare no entries)");
    let agencies_src = agencies_src.ok_or_else(|| missing(AGENCIES_FILE))?;
    let people_src = people_src.ok_or_else(|| missing(PEOPLE_FILE))?;

    let mut b = Builder::default();
    b.agencies(&Src::new(agencies_src)?)?;
    for (stem, file) in service_point_srcs {
        b.service_point(&stem, &Src::new(file)?)?;
    }
    if b.devices.is_empty() {
        return Err(ConfigError::new(
            SERVICE_POINTS_DIR,
            None,
            None,
            format!("no devices: declare at least one [[device]] in a {SERVICE_POINTS_DIR}/<id>.toml file"),
        ));
    }
    b.people(&Src::new(people_src)?)?;

    Ok(RoomsConfig {
        agencies: b.agencies,
        service_points: b.service_points,
        devices: b.devices.into_iter().map(|(k, (d, _))| (k, d)).collect(),
        people: b.people,
        fingerprint,
    })
}

// ---------------------------------------------------------------------------------------------------------
// Reading the directory

struct RawFile {
    /// Relative to the config directory.
    rel: PathBuf,
    /// `/`-separated form of `rel`: the sort and hash key.
    key: String,
    bytes: Vec<u8>,
}

/// Every `*.toml` file under `dir`, sorted by relative path. An error carries the relative path that failed
/// (empty for `dir` itself).
fn collect(dir: &Path) -> Result<Vec<RawFile>, (PathBuf, io::Error)> {
    let mut out = Vec::new();
    walk(dir, PathBuf::new(), 0, &mut out)?;
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn walk(root: &Path, rel: PathBuf, depth: usize, out: &mut Vec<RawFile>) -> Result<(), (PathBuf, io::Error)> {
    let abs = root.join(&rel);
    if depth > MAX_DEPTH {
        return Err((rel, io::Error::other(format!("folders nested deeper than {MAX_DEPTH} levels"))));
    }
    let entries = std::fs::read_dir(&abs).map_err(|e| (rel.clone(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (rel.clone(), e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let child = rel.join(&name);
        let mut file_type = entry.file_type().map_err(|e| (child.clone(), e))?;
        if file_type.is_symlink() {
            file_type = std::fs::metadata(entry.path()).map_err(|e| (child.clone(), e))?.file_type();
        }
        if file_type.is_dir() {
            walk(root, child, depth + 1, out)?;
        } else if is_toml(&child) {
            let bytes = std::fs::read(root.join(&child)).map_err(|e| (child.clone(), e))?;
            let key = child.iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push(RawFile { rel: child, key, bytes });
        }
    }
    Ok(())
}

fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

fn fingerprint(files: &[RawFile]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for f in files {
        // Lengths make the encoding unambiguous: no two different trees hash the same bytes.
        eat(&(f.key.len() as u64).to_le_bytes());
        eat(f.key.as_bytes());
        eat(&(f.bytes.len() as u64).to_le_bytes());
        eat(&f.bytes);
    }
    h
}

enum Kind {
    Agencies,
    People,
    ServicePoint(String),
    Stray,
}

fn classify(rel: &Path) -> Kind {
    let parts: Vec<_> = rel.iter().map(|c| c.to_str()).collect();
    match parts.as_slice() {
        [Some(AGENCIES_FILE)] => Kind::Agencies,
        [Some(PEOPLE_FILE)] => Kind::People,
        [Some(SERVICE_POINTS_DIR), Some(name)] => match name.strip_suffix(".toml") {
            Some(stem) if !stem.is_empty() => Kind::ServicePoint(stem.to_string()),
            _ => Kind::Stray,
        },
        _ => Kind::Stray,
    }
}

/// One file's text, for parsing and for locating errors.
struct Src<'a> {
    rel: &'a Path,
    text: &'a str,
}

impl<'a> Src<'a> {
    fn new(file: &'a RawFile) -> Result<Self, ConfigError> {
        match std::str::from_utf8(&file.bytes) {
            Ok(text) => Ok(Src { rel: &file.rel, text }),
            Err(e) => {
                let line = line_at(&String::from_utf8_lossy(&file.bytes[..e.valid_up_to()]), e.valid_up_to());
                Err(ConfigError::new(&file.rel, Some(line), None, "not valid UTF-8"))
            }
        }
    }

    fn line(&self, span: &Range<usize>) -> usize {
        line_at(self.text, span.start)
    }

    fn err(&self, span: &Range<usize>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.rel, Some(self.line(span)), Some(field.into()), message)
    }

    /// `file:line`, for pointing at an earlier declaration.
    fn place(&self, span: &Range<usize>) -> String {
        format!("{}:{}", self.rel.display(), self.line(span))
    }

    /// Deserialises the whole file, turning TOML syntax and serde errors into a [`ConfigError`] with the line
    /// of the error's span and the field path of `serde_path_to_error`.
    fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let de = toml::Deserializer::new(self.text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let mut field = render_path(e.path());
            let inner = e.into_inner();
            let message = inner.message().trim().lines().map(str::trim).collect::<Vec<_>>().join("; ");
            // serde reports a missing field on the table that lacks it; name the field itself.
            if let Some(name) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
                field = Some(match field {
                    Some(table) => format!("{table}.{name}"),
                    None => name.to_string(),
                });
            }
            // No field path: the text itself is not valid TOML.
            let message = if field.is_none() { format!("invalid TOML: {message}") } else { message };
            let line = inner.span().map(|s| line_at(self.text, s.start));
            ConfigError::new(self.rel, line, field, message)
        })
    }
}

/// 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// `person[3].role` from a serde path, leaving out `toml::Spanned`'s private wrapper fields.
fn render_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__serde_spanned_private") || key.starts_with("$__toml_private") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

// ---------------------------------------------------------------------------------------------------------
// The files' raw shapes. Every value is `Spanned` so that semantic errors can name their line.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgenciesFile {
    #[serde(default)]
    agency: Vec<Spanned<RawAgency>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgency {
    id: Spanned<String>,
    name: Spanned<String>,
    rule: Option<Spanned<String>>,
    windows: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    service: Vec<Spanned<ServiceSpec>>,
}

/// A dated change to a schedule: `date = "2025-12-23"`, `change = "day_off" | "extra" | "unavailable" |
/// "replace"`, `ranges = ["09:00-12:00"]` (none for `day_off`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawException {
    date: Spanned<String>,
    change: Spanned<String>,
    #[serde(default)]
    ranges: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicePointFile {
    id: Spanned<String>,
    name: Spanned<String>,
    municipality: Spanned<String>,
    #[serde(default)]
    opening_hours: Vec<Spanned<String>>,
    #[serde(default)]
    opening_exception: Vec<Spanned<RawException>>,
    #[serde(default)]
    device: Vec<Spanned<RawDevice>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    id: Spanned<String>,
    name: Spanned<String>,
    credential_hash: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleFile {
    #[serde(default)]
    person: Vec<Spanned<RawPerson>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    id: Spanned<String>,
    name: Spanned<String>,
    role: Spanned<String>,
    agency: Option<Spanned<String>>,
    service_point: Option<Spanned<String>>,
    #[serde(default)]
    languages: Vec<Spanned<String>>,
    password_hash: Spanned<String>,
    availability: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    availability_exception: Vec<Spanned<RawException>>,
    services: Option<Spanned<Vec<Spanned<String>>>>,
    stand_ins: Option<Spanned<Vec<Spanned<String>>>>,
}

// ---------------------------------------------------------------------------------------------------------
// Validation

/// Where a subject was first declared, for duplicate messages: `file:line`.
type Place = String;

#[derive(Default)]
struct Builder {
    agencies: BTreeMap<String, Agency>,
    service_points: BTreeMap<String, ServicePoint>,
    devices: BTreeMap<RoomId, (Device, Place)>,
    people: BTreeMap<SubjectId, Person>,
}

impl Builder {
    fn agencies(&mut self, src: &Src) -> Result<(), ConfigError> {
        let file: AgenciesFile = src.parse()?;
        let mut first_line = BTreeMap::new();
        for (i, table) in file.agency.iter().enumerate() {
            let raw = table.get_ref();
            let at = |field: &str| format!("agency[{i}].{field}");
            let id = slug(src, &raw.id, &at("id"), "agency id")?;
            if let Some(line) = first_line.get(&id) {
                return Err(src.err(
                    &raw.id.span(),
                    at("id"),
                    format!("duplicate agency id {id:?} (first declared on line {line})"),
                ));
            }
            first_line.insert(id.clone(), src.line(&raw.id.span()));
            let name = not_blank(src, &raw.name, &at("name"))?;
            let calendar = agency_calendar(src, raw, i, &self.agencies)?;
            self.agencies.insert(id.clone(), Agency { id, name, calendar });
        }
        Ok(())
    }

    fn service_point(&mut self, stem: &str, src: &Src) -> Result<(), ConfigError> {
        let file: ServicePointFile = src.parse()?;
        let id = slug(src, &file.id, "id", "service point id")?;
        if id != stem {
            return Err(src.err(
                &file.id.span(),
                "id",
                format!(
                    "service point id {id:?} differs from the file name: a service point's file is named after its \
                     id, so either set id = {stem:?} or rename the file to {SERVICE_POINTS_DIR}/{id}.toml"
                ),
            ));
        }
        // Unique because file names are unique and each id equals its file's stem.
        let name = not_blank(src, &file.name, "name")?;
        let municipality = not_blank(src, &file.municipality, "municipality")?;
        let opening_hours =
            schedule(src, &file.opening_hours, &file.opening_exception, "opening_hours", "opening_exception")?;
        self.service_points.insert(id.clone(), ServicePoint { id: id.clone(), name, municipality, opening_hours });

        for (i, table) in file.device.iter().enumerate() {
            let raw = table.get_ref();
            let at = |field: &str| format!("device[{i}].{field}");
            let text = slug(src, &raw.id, &at("id"), "device id")?;
            let (room, subject) = match (RoomId::new(text.clone()), SubjectId::new(text.clone())) {
                (Ok(room), Ok(subject)) => (room, subject),
                (Err(e), _) | (_, Err(e)) => return Err(src.err(&raw.id.span(), at("id"), e.to_string())),
            };
            if let Some((_, place)) = self.devices.get(&room) {
                return Err(src.err(
                    &raw.id.span(),
                    at("id"),
                    format!("duplicate device id {text:?} (already declared at {place}); every device is one room"),
                ));
            }
            let name = not_blank(src, &raw.name, &at("name"))?;
            let credential_hash = phc(src, &raw.credential_hash, &at("credential_hash"))?;
            let device = Device { id: room.clone(), subject, name, service_point: id.clone(), credential_hash };
            self.devices.insert(room, (device, src.place(&raw.id.span())));
        }
        Ok(())
    }

    fn people(&mut self, src: &Src) -> Result<(), ConfigError> {
        let file: PeopleFile = src.parse()?;
        let mut first_line = BTreeMap::new();
        let mut stand_ins = Vec::new();
        for (i, table) in file.person.iter().enumerate() {
            let raw = table.get_ref();
            let at = |field: &str| format!("person[{i}].{field}");
            let text = slug(src, &raw.id, &at("id"), "person id")?;
            let id = SubjectId::new(text.clone()).map_err(|e| src.err(&raw.id.span(), at("id"), e.to_string()))?;
            if let Some(line) = first_line.get(&id) {
                return Err(src.err(
                    &raw.id.span(),
                    at("id"),
                    format!("duplicate person id {text:?} (first declared on line {line})"),
                ));
            }
            if let Some((_, place)) = RoomId::new(text.clone()).ok().and_then(|r| self.devices.get(&r)) {
                return Err(src.err(
                    &raw.id.span(),
                    at("id"),
                    format!(
                        "person id {text:?} is already a device id (declared at {place}); people and devices \
                         share one namespace of token subjects"
                    ),
                ));
            }
            first_line.insert(id.clone(), src.line(&raw.id.span()));
            let name = not_blank(src, &raw.name, &at("name"))?;
            let role = role(src, &raw.role, &at("role"))?;

            let agency = match (&raw.agency, role) {
                (Some(a), Role::Expert) => Some(known(src, a, &at("agency"), "agency", &self.agencies)?),
                (None, Role::Expert) => {
                    return Err(src.err(
                        &table.span(),
                        at("agency"),
                        format!("an expert must name their agency (known: {})", list(&self.agencies)),
                    ))
                }
                (Some(a), other) => {
                    return Err(src.err(
                        &a.span(),
                        at("agency"),
                        format!(
                            "only experts belong to an agency; remove it, or make the role \"expert\" (role is {:?})",
                            other.as_str()
                        ),
                    ))
                }
                (None, _) => None,
            };
            let service_point = match (&raw.service_point, role) {
                (Some(s), Role::Advisor) => {
                    Some(known(src, s, &at("service_point"), "service point", &self.service_points)?)
                }
                (None, Role::Advisor) => {
                    return Err(src.err(
                        &table.span(),
                        at("service_point"),
                        format!("an advisor must name their service point (known: {})", list(&self.service_points)),
                    ))
                }
                (Some(s), other) => {
                    return Err(src.err(
                        &s.span(),
                        at("service_point"),
                        format!(
                            "only advisors belong to a service point; remove it, or make the role \"advisor\" \
                             (role is {:?})",
                            other.as_str()
                        ),
                    ))
                }
                (None, _) => None,
            };

            let mut languages: Vec<String> = Vec::new();
            for (j, tag) in raw.languages.iter().enumerate() {
                let field = format!("person[{i}].languages[{j}]");
                let value = tag.get_ref();
                if !is_language_tag(value) {
                    return Err(src.err(
                        &tag.span(),
                        field,
                        format!(
                            "{value:?} is not a BCP 47 language tag such as \"fi\", \"sv\", \"en\", \"fse\" or \"fss\""
                        ),
                    ));
                }
                if languages.iter().any(|l| l.eq_ignore_ascii_case(value)) {
                    return Err(src.err(&tag.span(), field, format!("language {value:?} is listed twice")));
                }
                languages.push(value.clone());
            }
            let password_hash = phc(src, &raw.password_hash, &at("password_hash"))?;
            let (availability, expert) = self.person_calendar(src, raw, i, role, agency.as_deref(), &mut stand_ins)?;
            self.people.insert(
                id.clone(),
                Person { id, name, role, agency, service_point, languages, password_hash, availability, expert },
            );
        }
        // Stand-ins may be declared further down the file, so they are checked once everyone is known. A stand-in
        // who is not in the config at all is dropped with a warning rather than refusing the whole config:
        // removing a person (someone left) must not wait for every colleague's stand-in list to be edited. A
        // stand-in who is there but is not an expert of the same agency is a mistake, and refused.
        let mut dangling = Vec::new();
        for (i, agency, list) in stand_ins {
            for (j, s) in list.iter().enumerate() {
                let field = format!("person[{i}].stand_ins[{j}]");
                let id = SubjectId::new(s.get_ref().as_str()).ok();
                let other = id.as_ref().and_then(|id| self.people.get(id));
                match other {
                    Some(p) if p.role == Role::Expert && p.agency.as_deref() == Some(agency.as_str()) => {}
                    None if id.is_some() => {
                        tracing::warn!(field, stand_in = %s.get_ref(), "stand-in not in the rooms-config, ignored");
                        dangling.push(s.get_ref().clone());
                    }
                    _ => {
                        return Err(src.err(
                            &s.span(),
                            field,
                            format!("stand-in {:?} is not an expert of the same agency ({agency})", s.get_ref()),
                        ))
                    }
                }
            }
        }
        if !dangling.is_empty() {
            for p in self.people.values_mut() {
                p.expert.stand_ins.retain(|s| !dangling.contains(s));
            }
        }
        Ok(())
    }

    /// An expert's or interpreter's availability, an expert's services and stand-ins (stand-ins are collected
    /// into `stand_ins` for the check after the whole file is read).
    fn person_calendar(
        &self,
        src: &Src,
        raw: &RawPerson,
        i: usize,
        role: Role,
        agency: Option<&str>,
        stand_ins: &mut Vec<(usize, String, Vec<Spanned<String>>)>,
    ) -> Result<(Option<Schedule>, ExpertProfile), ConfigError> {
        let at = |field: &str| format!("person[{i}].{field}");
        let bookable = matches!(role, Role::Expert | Role::Interpreter);
        if !bookable {
            if let Some(a) = &raw.availability {
                return Err(src.err(
                    &a.span(),
                    at("availability"),
                    "only experts and interpreters have an availability",
                ));
            }
        }
        if role != Role::Expert {
            for (value, field) in [(&raw.services, "services"), (&raw.stand_ins, "stand_ins")] {
                if let Some(v) = value {
                    return Err(src.err(&v.span(), at(field), format!("only experts have {field}")));
                }
            }
        }
        let availability = match &raw.availability {
            Some(weekly) => Some(schedule(
                src,
                weekly.get_ref(),
                &raw.availability_exception,
                &at("availability"),
                &at("availability_exception"),
            )?),
            None if !raw.availability_exception.is_empty() => {
                let e = &raw.availability_exception[0];
                return Err(src.err(&e.span(), at("availability_exception"), "exceptions need an availability"));
            }
            None => None,
        };
        let mut expert = ExpertProfile::default();
        if let (Role::Expert, Some(agency)) = (role, agency) {
            let offered = &self.agencies[agency].calendar.services;
            if let Some(list) = &raw.services {
                let mut services = Vec::new();
                for (j, s) in list.get_ref().iter().enumerate() {
                    if !offered.iter().any(|o| &o.id == s.get_ref()) {
                        let known: Vec<&str> = offered.iter().map(|o| o.id.as_str()).collect();
                        return Err(src.err(
                            &s.span(),
                            format!("person[{i}].services[{j}]"),
                            format!(
                                "agency {agency} has no service {:?} (known: {})",
                                s.get_ref(),
                                if known.is_empty() { "none".to_string() } else { known.join(", ") }
                            ),
                        ));
                    }
                    services.push(s.get_ref().clone());
                }
                expert.services = Some(services);
            }
            if let Some(list) = &raw.stand_ins {
                expert.stand_ins = list.get_ref().iter().map(|s| s.get_ref().clone()).collect();
                stand_ins.push((i, agency.to_string(), list.get_ref().clone()));
            }
        }
        Ok((availability, expert))
    }
}

/// An agency's booking rule (`rule`, `windows`) and services (`[[agency.service]]`). Service ids are unique across
/// all agencies, since a booking names the service alone.
fn agency_calendar(
    src: &Src,
    raw: &RawAgency,
    i: usize,
    earlier: &BTreeMap<String, Agency>,
) -> Result<AgencyCalendar, ConfigError> {
    const RULES: &str = "walk_in_and_appointment, appointment_only, fixed_windows";
    let at = |field: &str| format!("agency[{i}].{field}");
    let rule_word = raw.rule.as_ref().map(|r| r.get_ref().as_str()).unwrap_or("walk_in_and_appointment");
    let rule_span = raw.rule.as_ref().map(|r| r.span()).unwrap_or_else(|| raw.id.span());
    let rule = match (rule_word, &raw.windows) {
        ("walk_in_and_appointment", None) => AgencyRule::WalkInAndAppointment,
        ("appointment_only", None) => AgencyRule::AppointmentOnly,
        ("fixed_windows", Some(w)) => {
            let mut ranges = Vec::new();
            for (j, text) in w.get_ref().iter().enumerate() {
                let parsed =
                    parse_weekly(text.get_ref()).map_err(|e| src.err(&text.span(), at(&format!("windows[{j}]")), e))?;
                ranges.extend(parsed);
            }
            if ranges.is_empty() {
                return Err(src.err(&w.span(), at("windows"), "fixed_windows needs at least one window"));
            }
            AgencyRule::FixedWindows(ranges)
        }
        ("fixed_windows", None) => {
            return Err(src.err(
                &rule_span,
                at("windows"),
                "rule \"fixed_windows\" needs windows, e.g. windows = [\"tue 09:00-11:00\", \"thu 13:00-15:00\"]",
            ))
        }
        ("walk_in_and_appointment" | "appointment_only", Some(w)) => {
            return Err(src.err(&w.span(), at("windows"), "windows belong to rule = \"fixed_windows\" only"))
        }
        (other, _) => {
            return Err(src.err(&rule_span, at("rule"), format!("unknown rule {other:?} (expected one of: {RULES})")))
        }
    };
    let mut services: Vec<ServiceSpec> = Vec::new();
    for (j, table) in raw.service.iter().enumerate() {
        let s = table.get_ref();
        let field = at(&format!("service[{j}]"));
        if let Some(problem) = s.problem() {
            return Err(src.err(&table.span(), field, problem));
        }
        let elsewhere =
            earlier.values().find(|a| a.calendar.services.iter().any(|o| o.id == s.id)).map(|a| a.id.clone());
        if services.iter().any(|o| o.id == s.id) || elsewhere.is_some() {
            return Err(src.err(
                &table.span(),
                format!("{field}.id"),
                format!("duplicate service id {:?}: service ids are unique across all agencies", s.id),
            ));
        }
        services.push(s.clone());
    }
    Ok(AgencyCalendar { rule, services })
}

/// A schedule from the compact weekly strings and `[[…exception]]` tables; closed on public holidays.
fn schedule(
    src: &Src,
    weekly: &[Spanned<String>],
    exceptions: &[Spanned<RawException>],
    weekly_field: &str,
    exception_field: &str,
) -> Result<Schedule, ConfigError> {
    let mut ranges = Vec::new();
    for (j, text) in weekly.iter().enumerate() {
        ranges.extend(
            parse_weekly(text.get_ref()).map_err(|e| src.err(&text.span(), format!("{weekly_field}[{j}]"), e))?,
        );
    }
    let mut out = Schedule::weekly(ranges);
    for (j, table) in exceptions.iter().enumerate() {
        let e = table.get_ref();
        let at = |f: &str| format!("{exception_field}[{j}].{f}");
        let date = chrono::NaiveDate::parse_from_str(e.date.get_ref(), "%Y-%m-%d").map_err(|_| {
            src.err(&e.date.span(), at("date"), format!("{:?} is not a date YYYY-MM-DD", e.date.get_ref()))
        })?;
        let mut list = Vec::new();
        for (k, r) in e.ranges.iter().enumerate() {
            list.push(parse_range(r.get_ref()).map_err(|m| src.err(&r.span(), at(&format!("ranges[{k}]")), m))?);
        }
        let needs_ranges = |change| -> Result<(), ConfigError> {
            if list.is_empty() {
                Err(src.err(
                    &e.change.span(),
                    at("ranges"),
                    format!("change {change:?} needs ranges, e.g. [\"09:00-12:00\"]"),
                ))
            } else {
                Ok(())
            }
        };
        let change = match e.change.get_ref().as_str() {
            "day_off" if list.is_empty() => ExceptionChange::DayOff,
            "day_off" => return Err(src.err(&e.change.span(), at("ranges"), "a day off has no ranges")),
            "extra" => needs_ranges("extra").map(|_| ExceptionChange::Extra(list))?,
            "unavailable" => needs_ranges("unavailable").map(|_| ExceptionChange::Unavailable(list))?,
            "replace" => ExceptionChange::Replace(list),
            other => {
                return Err(src.err(
                    &e.change.span(),
                    at("change"),
                    format!("unknown change {other:?} (expected one of: day_off, extra, unavailable, replace)"),
                ))
            }
        };
        out.exceptions.push(DateException { date, change });
    }
    Ok(out)
}

/// An id that follows the slug rule of the domain's ids.
fn slug(src: &Src, value: &Spanned<String>, field: &str, kind: &str) -> Result<String, ConfigError> {
    let text = value.get_ref();
    if SubjectId::new(text.as_str()).is_err() {
        return Err(src.err(
            &value.span(),
            field,
            format!("invalid {kind} {text:?}: use 1 to 64 characters of a-z, 0-9 and '-', not starting with '-'"),
        ));
    }
    Ok(text.clone())
}

fn not_blank(src: &Src, value: &Spanned<String>, field: &str) -> Result<String, ConfigError> {
    let text = value.get_ref();
    if text.trim().is_empty() {
        return Err(src.err(&value.span(), field, "must not be empty"));
    }
    Ok(text.clone())
}

fn role(src: &Src, value: &Spanned<String>, field: &str) -> Result<Role, ConfigError> {
    const PEOPLE_ROLES: &str = "advisor, expert, interpreter, scheduler, admin";
    match Role::parse(value.get_ref()) {
        Some(Role::Device) => Err(src.err(
            &value.span(),
            field,
            format!(
                "\"device\" is not a person's role: devices are [[device]] tables in {SERVICE_POINTS_DIR}/<id>.toml \
                 (roles here: {PEOPLE_ROLES})"
            ),
        )),
        Some(role) => Ok(role),
        None => Err(src.err(
            &value.span(),
            field,
            format!("unknown role {:?} (expected one of: {PEOPLE_ROLES})", value.get_ref()),
        )),
    }
}

/// A reference to an existing id in `known`.
fn known<T>(
    src: &Src,
    value: &Spanned<String>,
    field: &str,
    kind: &str,
    known: &BTreeMap<String, T>,
) -> Result<String, ConfigError> {
    let text = value.get_ref();
    if known.contains_key(text) {
        Ok(text.clone())
    } else {
        Err(src.err(&value.span(), field, format!("unknown {kind} {text:?} (known: {})", list(known))))
    }
}

fn list<T>(map: &BTreeMap<String, T>) -> String {
    if map.is_empty() {
        "none".to_string()
    } else {
        map.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// An argon2 PHC string that the server can verify against. The value is never echoed: an operator might
/// have pasted a plain password by mistake.
fn phc(src: &Src, value: &Spanned<String>, field: &str) -> Result<String, ConfigError> {
    const EXPECTED: &str = "expected an argon2 PHC string like \"$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>\"";
    let text = value.get_ref();
    let fail = |why: String| src.err(&value.span(), field, format!("{why}; {EXPECTED}"));
    let hash = argon2::PasswordHash::new(text).map_err(|e| fail(format!("not a PHC string ({e})")))?;
    if argon2::Algorithm::try_from(hash.algorithm).is_err() {
        return Err(fail(format!("algorithm {:?} is not argon2", hash.algorithm.as_str())));
    }
    if let Err(e) = argon2::Params::try_from(&hash) {
        return Err(fail(format!("invalid argon2 parameters ({e})")));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(fail("the PHC string lacks its salt or hash part".to_string()));
    }
    Ok(text.clone())
}

/// A syntactically valid BCP 47 tag in the common form: a 2–3 letter lowercase primary language subtag
/// (`fi`, `sv`, `se`, `fse`), then optional `-`-separated subtags of 1 to 8 letters or digits (`sv-FI`).
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests;
