//! Tests of the rooms-config loader: the shipped demo config, and broken copies of it that must fail with the
//! right file, line and field.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rooms-config")
}

/// A copy of the demo config in a fresh directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn demo() -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!(
            "vayla-rooms-config-test-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        copy_tree(&demo_dir(), &dir);
        Scratch(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    /// Replaces the one occurrence of `from` in the file and returns the 1-based line where it started.
    fn edit(&self, rel: &str, from: &str, to: &str) -> usize {
        let text = self.read(rel);
        assert_eq!(text.matches(from).count(), 1, "{from:?} must occur exactly once in {rel}");
        let line = line_of(&text, from);
        self.write(rel, &text.replacen(from, to, 1));
        line
    }

    /// Like [`Scratch::edit`], for the first occurrence of `from` after the one occurrence of `anchor`.
    fn edit_after(&self, rel: &str, anchor: &str, from: &str, to: &str) -> usize {
        let text = self.read(rel);
        assert_eq!(text.matches(anchor).count(), 1, "{anchor:?} must occur exactly once in {rel}");
        let start = text.find(anchor).unwrap();
        let at = start + text[start..].find(from).unwrap_or_else(|| panic!("{from:?} not after {anchor:?}"));
        let line = text[..at].matches('\n').count() + 1;
        self.write(rel, &format!("{}{to}{}", &text[..at], &text[at + from.len()..]));
        line
    }

    fn load(&self) -> Result<RoomsConfig, ConfigError> {
        load_dir(&self.0)
    }

    fn load_err(&self) -> ConfigError {
        match self.load() {
            Ok(_) => panic!("the broken config loaded"),
            Err(e) => e,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// 1-based line where `needle` first occurs.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not found"));
    text[..at].matches('\n').count() + 1
}

/// Index of the `[[person]]` table whose id is `id` (as in `person[i]`).
fn person_index(text: &str, id: &str) -> usize {
    let at = text.find(&format!("id = \"{id}\"")).unwrap();
    text[..at].matches("[[person]]").count() - 1
}

fn assert_err(e: &ConfigError, file: &str, line: Option<usize>, field: Option<&str>, contains: &str) {
    assert_eq!(e.file, PathBuf::from(file), "file of {e}");
    assert_eq!(e.line, line, "line of {e}");
    assert_eq!(e.field.as_deref(), field, "field of {e}");
    assert!(e.message.contains(contains), "message of {e} should contain {contains:?}");
}

fn room(id: &str) -> RoomId {
    RoomId::new(id).unwrap()
}

fn subject(id: &str) -> SubjectId {
    SubjectId::new(id).unwrap()
}

// ------------------------------------------------------------------------------------------------------------
// The demo config

#[test]
fn demo_config_loads() {
    let cfg = load_dir(&demo_dir()).unwrap_or_else(|e| panic!("demo config: {e}"));
    assert_eq!(cfg.devices.len(), 8);
    assert_eq!(cfg.service_points.len(), 5);
    assert_eq!(cfg.agencies.len(), 5);
    assert_eq!(cfg.people.len(), 17);

    let points: Vec<_> = cfg.service_points.keys().map(String::as_str).collect();
    assert_eq!(points, ["kiiminki", "mikkeli", "parainen", "pelkosenniemi", "saarijarvi"]);
    let agencies: Vec<_> = cfg.agencies.keys().map(String::as_str).collect();
    assert_eq!(agencies, ["dvv", "kela", "poliisi", "te", "vero"]);
    let counts: Vec<_> = points.iter().map(|p| cfg.devices_of(p).count()).collect();
    assert_eq!(counts, [1, 3, 1, 1, 2]);
    assert_eq!(cfg.service_point("kiiminki").unwrap().municipality, "Oulu");
    assert_eq!(cfg.agency("dvv").unwrap().name, "Digi- ja väestötietovirasto");

    let device = cfg.device(&room("mikkeli-2")).unwrap();
    assert_eq!(device.service_point, "mikkeli");
    assert_eq!(device.subject.as_str(), "mikkeli-2");
    for d in cfg.devices.values() {
        assert_eq!(d.id.as_str(), d.subject.as_str());
    }
    assert!(cfg.device(&room("mikkeli-4")).is_none());

    let anna = cfg.person(&subject("kela-anna")).unwrap();
    assert_eq!(anna.role, Role::Expert);
    assert_eq!(anna.agency.as_deref(), Some("kela"));
    assert_eq!(anna.service_point, None);
    let advisor = cfg.person(&subject("advisor-parainen")).unwrap();
    assert_eq!(advisor.role, Role::Advisor);
    assert_eq!(advisor.service_point.as_deref(), Some("parainen"));
    assert_eq!(cfg.person(&subject("tulkki-sami")).unwrap().languages, ["fse"]);
    assert_eq!(cfg.person(&subject("tulkki-sofia")).unwrap().languages, ["fss", "sv"]);
    assert_eq!(cfg.person(&subject("tulkki-aino")).unwrap().languages, ["fi", "sv", "en"]);
    assert_eq!(cfg.person(&subject("scheduler")).unwrap().role, Role::Scheduler);
    assert_eq!(cfg.person(&subject("admin")).unwrap().role, Role::Admin);
    for agency in cfg.agencies.keys() {
        assert!(cfg.people.values().any(|p| p.agency.as_ref() == Some(agency)), "no expert for {agency}");
    }
    for point in cfg.service_points.keys() {
        assert!(cfg.people.values().any(|p| p.service_point.as_ref() == Some(point)), "no advisor for {point}");
    }

    assert_eq!(cfg.display_name(&subject("kela-anna")), Some("Anna Virtanen"));
    assert_eq!(cfg.display_name(&subject("mikkeli-2")), Some("Mikkeli, etäpalveluhuone 2"));
    assert_eq!(cfg.display_name(&subject("nobody")), None);

    assert_eq!(cfg.fingerprint, fingerprint_dir(&demo_dir()).unwrap());
}

#[test]
fn demo_credentials_verify() {
    use argon2::{Argon2, PasswordHash, PasswordVerifier};
    let cfg = load_dir(&demo_dir()).unwrap();
    let verify = |hash: &str, secret: &str| {
        Argon2::default().verify_password(secret.as_bytes(), &PasswordHash::new(hash).unwrap()).is_ok()
    };
    let mut salts = std::collections::BTreeSet::new();
    for d in cfg.devices.values() {
        assert!(verify(&d.credential_hash, "device-demo"), "device {}", d.id);
        salts.insert(PasswordHash::new(&d.credential_hash).unwrap().salt.unwrap().to_string());
    }
    for p in cfg.people.values() {
        assert!(verify(&p.password_hash, "vayla-demo"), "person {}", p.id);
        salts.insert(PasswordHash::new(&p.password_hash).unwrap().salt.unwrap().to_string());
    }
    assert_eq!(salts.len(), cfg.devices.len() + cfg.people.len(), "every entry has its own salt");
    // A wrong secret fails, so the check above means something.
    assert!(!verify(&cfg.device(&room("kiiminki-1")).unwrap().credential_hash, "vayla-demo"));
}

#[test]
fn a_copy_with_non_toml_files_loads() {
    let s = Scratch::demo();
    assert!(s.path("README.md").exists(), "the demo ships a README.md, which is ignored");
    s.write("service-points/NOTES.txt", "not toml");
    s.write(".git/config.toml", "ignored: hidden folder");
    let cfg = s.load().unwrap();
    assert_eq!(cfg.devices.len(), 8);
}

// ------------------------------------------------------------------------------------------------------------
// Syntax and shape errors: line from the TOML error's span, field from serde_path_to_error

#[test]
fn toml_syntax_error() {
    let s = Scratch::demo();
    let line = s.edit("people.toml", "name = \"Liisa Mäkinen\"", "name = \"Liisa Mäkinen");
    let e = s.load_err();
    assert_err(&e, "people.toml", Some(line), None, "string");
    assert!(!e.message.contains('\n'), "one-line message: {e}");
}

#[test]
fn unknown_field() {
    let s = Scratch::demo();
    let line = s.edit("service-points/mikkeli.toml", "name = \"Mikkeli, etäpalveluhuone 2\"", "nimi = \"M2\"");
    let e = s.load_err();
    assert_err(&e, "service-points/mikkeli.toml", Some(line), Some("device[1].nimi"), "unknown field `nimi`");
}

#[test]
fn unknown_top_level_field() {
    let s = Scratch::demo();
    let line = s.edit(
        "service-points/kiiminki.toml",
        "municipality = \"Oulu\"",
        "municipality = \"Oulu\"\nmunicipalty = \"Oulu\"",
    );
    let e = s.load_err();
    assert_err(&e, "service-points/kiiminki.toml", Some(line + 1), Some("municipalty"), "unknown field");
}

#[test]
fn wrong_type() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "kela-mikko");
    let line = s.edit_after("people.toml", "id = \"kela-mikko\"", "languages = [\"fi\", \"en\"]", "languages = \"fi\"");
    let e = s.load_err();
    let field = format!("person[{i}].languages");
    assert_err(&e, "people.toml", Some(line), Some(&field), "invalid type: string \"fi\", expected a sequence");
}

#[test]
fn wrong_type_inside_a_list() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "kela-mikko");
    let line =
        s.edit_after("people.toml", "id = \"kela-mikko\"", "languages = [\"fi\", \"en\"]", "languages = [\"fi\", 3]");
    let e = s.load_err();
    let field = format!("person[{i}].languages[1]");
    assert_err(&e, "people.toml", Some(line), Some(&field), "invalid type: integer `3`");
}

#[test]
fn missing_required_field() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "vero-liisa");
    let header = line_of(&text, "id = \"vero-liisa\"") - 1;
    s.edit(
        "people.toml",
        "id = \"vero-liisa\"\nname = \"Liisa Mäkinen\"\nrole = \"expert\"\n",
        "id = \"vero-liisa\"\nname = \"Liisa Mäkinen\"\n",
    );
    let e = s.load_err();
    let field = format!("person[{i}].role");
    assert_err(&e, "people.toml", Some(header), Some(&field), "missing field `role`");
}

#[test]
fn missing_required_top_level_field() {
    let s = Scratch::demo();
    s.edit("service-points/parainen.toml", "municipality = \"Parainen – Pargas\"\n", "");
    let e = s.load_err();
    assert_eq!(e.file, PathBuf::from("service-points/parainen.toml"));
    assert_eq!(e.field.as_deref(), Some("municipality"));
    assert!(e.message.contains("missing field `municipality`"), "{e}");
}

// ------------------------------------------------------------------------------------------------------------
// Semantic errors: line from the offending value's span

#[test]
fn unknown_agency() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "kela-mikko");
    let from = "id = \"kela-mikko\"\nname = \"Mikko Korhonen\"\nrole = \"expert\"\nagency = \"kela\"";
    let line = s.edit("people.toml", from, &from.replace("agency = \"kela\"", "agency = \"kelaa\"")) + 3;
    let e = s.load_err();
    let field = format!("person[{i}].agency");
    assert_err(&e, "people.toml", Some(line), Some(&field), "unknown agency \"kelaa\"");
    assert_eq!(
        e.to_string(),
        format!(
            "people.toml:{line}: person[{i}].agency: unknown agency \"kelaa\" (known: dvv, kela, poliisi, te, vero)"
        )
    );
}

#[test]
fn unknown_service_point() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "advisor-mikkeli");
    let line = s.edit("people.toml", "service_point = \"mikkeli\"", "service_point = \"mikkel\"");
    let e = s.load_err();
    let field = format!("person[{i}].service_point");
    assert_err(
        &e,
        "people.toml",
        Some(line),
        Some(&field),
        "unknown service point \"mikkel\" (known: kiiminki, mikkeli",
    );
}

#[test]
fn expert_without_agency_and_advisor_without_service_point() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "poliisi-pekka");
    let header = line_of(&text, "id = \"poliisi-pekka\"") - 1;
    s.edit("people.toml", "agency = \"poliisi\"\n", "");
    assert_err(&s.load_err(), "people.toml", Some(header), Some(&format!("person[{i}].agency")), "expert must name");

    let s = Scratch::demo();
    let i = person_index(&text, "advisor-kiiminki");
    let header = line_of(&text, "id = \"advisor-kiiminki\"") - 1;
    s.edit("people.toml", "service_point = \"kiiminki\"\n", "");
    let field = format!("person[{i}].service_point");
    assert_err(&s.load_err(), "people.toml", Some(header), Some(&field), "advisor must name");
}

#[test]
fn agency_or_service_point_on_the_wrong_role() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "scheduler");
    let line = s.edit("people.toml", "role = \"scheduler\"\n", "role = \"scheduler\"\nagency = \"kela\"\n") + 1;
    let field = format!("person[{i}].agency");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "only experts belong to an agency");

    let s = Scratch::demo();
    let i = person_index(&text, "tulkki-sami");
    let from = "id = \"tulkki-sami\"\nname = \"Sami Rantanen\"\nrole = \"interpreter\"\n";
    let line = s.edit("people.toml", from, &format!("{from}service_point = \"mikkeli\"\n")) + 3;
    let field = format!("person[{i}].service_point");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "only advisors belong to a service point");
}

#[test]
fn device_is_not_a_persons_role_and_unknown_roles_are_named() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "admin");
    let line = s.edit("people.toml", "role = \"admin\"", "role = \"device\"");
    let field = format!("person[{i}].role");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "\"device\" is not a person's role");

    let s = Scratch::demo();
    let line = s.edit("people.toml", "role = \"admin\"", "role = \"Admin\"");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "unknown role \"Admin\" (expected one of");
}

#[test]
fn duplicate_device_id_across_two_service_point_files() {
    let s = Scratch::demo();
    let first = line_of(&s.read("service-points/mikkeli.toml"), "id = \"mikkeli-2\"");
    let line = s.edit("service-points/saarijarvi.toml", "id = \"saarijarvi-2\"", "id = \"mikkeli-2\"");
    let e = s.load_err();
    assert_err(
        &e,
        "service-points/saarijarvi.toml",
        Some(line),
        Some("device[1].id"),
        "duplicate device id \"mikkeli-2\"",
    );
    assert!(e.message.contains(&format!("service-points/mikkeli.toml:{first}")), "{e}");
}

#[test]
fn duplicate_ids_within_a_file() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "vero-juha");
    let first = line_of(&text, "id = \"vero-liisa\"");
    let line = s.edit("people.toml", "id = \"vero-juha\"", "id = \"vero-liisa\"");
    let field = format!("person[{i}].id");
    let e = s.load_err();
    assert_err(
        &e,
        "people.toml",
        Some(line),
        Some(&field),
        &format!("duplicate person id \"vero-liisa\" (first declared on line {first})"),
    );

    let s = Scratch::demo();
    let line = s.edit("agencies.toml", "id = \"te\"", "id = \"kela\"");
    assert_err(&s.load_err(), "agencies.toml", Some(line), Some("agency[4].id"), "duplicate agency id \"kela\"");
}

#[test]
fn person_id_clashing_with_a_device_id() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "tulkki-aino");
    let line = s.edit("people.toml", "id = \"tulkki-aino\"", "id = \"parainen-1\"");
    let field = format!("person[{i}].id");
    let e = s.load_err();
    assert_err(&e, "people.toml", Some(line), Some(&field), "person id \"parainen-1\" is already a device id");
    assert!(e.message.contains("service-points/parainen.toml:"), "{e}");
}

#[test]
fn service_point_id_differs_from_its_file_name() {
    let s = Scratch::demo();
    let line = s.edit("service-points/pelkosenniemi.toml", "id = \"pelkosenniemi\"", "id = \"pelkosniemi\"");
    let e = s.load_err();
    assert_err(&e, "service-points/pelkosenniemi.toml", Some(line), Some("id"), "differs from the file name");

    let s = Scratch::demo();
    let text = s.read("service-points/kiiminki.toml");
    s.remove("service-points/kiiminki.toml");
    s.write("service-points/oulu-kiiminki.toml", &text);
    let e = s.load_err();
    let line = line_of(&text, "id = \"kiiminki\"");
    assert_err(&e, "service-points/oulu-kiiminki.toml", Some(line), Some("id"), "set id = \"oulu-kiiminki\"");
}

#[test]
fn bad_password_hash_is_reported_without_echoing_it() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "admin");
    let hash_line =
        line_of(&text[text.find("id = \"admin\"").unwrap()..], "password_hash") + line_of(&text, "id = \"admin\"") - 1;
    let lines: Vec<&str> = text.lines().collect();
    let old = lines[hash_line - 1];
    s.edit("people.toml", old, "password_hash = \"vayla-demo\"");
    let e = s.load_err();
    let field = format!("person[{i}].password_hash");
    assert_err(&e, "people.toml", Some(hash_line), Some(&field), "not a PHC string");
    assert!(!e.message.contains("vayla-demo"), "the value must not be echoed: {e}");
}

#[test]
fn non_argon2_credential_hash() {
    let s = Scratch::demo();
    let text = s.read("service-points/kiiminki.toml");
    let line = line_of(&text, "credential_hash");
    let old = text.lines().nth(line - 1).unwrap();
    s.edit(
        "service-points/kiiminki.toml",
        old,
        "credential_hash = \"$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\"",
    );
    let e = s.load_err();
    assert_err(&e, "service-points/kiiminki.toml", Some(line), Some("device[0].credential_hash"), "is not argon2");
}

#[test]
fn invalid_ids_names_and_languages() {
    let s = Scratch::demo();
    let line = s.edit("service-points/mikkeli.toml", "id = \"mikkeli-3\"", "id = \"Mikkeli-3\"");
    let e = s.load_err();
    assert_err(&e, "service-points/mikkeli.toml", Some(line), Some("device[2].id"), "invalid device id \"Mikkeli-3\"");

    let s = Scratch::demo();
    let line = s.edit("agencies.toml", "name = \"Poliisi\"", "name = \"  \"");
    assert_err(&s.load_err(), "agencies.toml", Some(line), Some("agency[2].name"), "must not be empty");

    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "tulkki-sofia");
    let line = s.edit("people.toml", "languages = [\"fss\", \"sv\"]", "languages = [\"fss\", \"swedish\"]");
    let field = format!("person[{i}].languages[1]");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "not a BCP 47 language tag");

    let s = Scratch::demo();
    s.edit("people.toml", "languages = [\"fss\", \"sv\"]", "languages = [\"fss\", \"sv\", \"sv\"]");
    let field = format!("person[{i}].languages[2]");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "listed twice");
}

// ------------------------------------------------------------------------------------------------------------
// Files and the directory

#[test]
fn stray_toml_file_is_named() {
    let s = Scratch::demo();
    s.write("devices.toml", "[[device]]\n");
    let e = s.load_err();
    assert_err(&e, "devices.toml", None, None, "unexpected TOML file");
    assert_eq!(
        e.to_string(),
        "devices.toml: unexpected TOML file: the rooms-config reads only agencies.toml, people.toml and \
         service-points/<id>.toml (move, rename or remove it)"
    );

    let s = Scratch::demo();
    s.write("service-points/old/mikkeli.toml", "");
    assert_err(&s.load_err(), "service-points/old/mikkeli.toml", None, None, "unexpected TOML file");

    let s = Scratch::demo();
    s.write("People.TOML", "");
    assert_err(&s.load_err(), "People.TOML", None, None, "unexpected TOML file");
}

#[test]
fn required_files_and_devices() {
    let s = Scratch::demo();
    s.remove("people.toml");
    let e = s.load_err();
    assert_err(&e, "people.toml", None, None, "file is missing");
    assert_eq!(e.to_string(), "people.toml: file is missing (it is required, but may declare no entries)");

    let s = Scratch::demo();
    for sp in ["kiiminki", "mikkeli", "parainen", "pelkosenniemi", "saarijarvi"] {
        s.remove(&format!("service-points/{sp}.toml"));
    }
    s.write("people.toml", "");
    assert_err(&s.load_err(), "service-points", None, None, "no devices");

    let missing = std::env::temp_dir().join("vayla-rooms-config-test-does-not-exist");
    let e = load_dir(&missing).unwrap_err();
    assert_eq!(e.file, missing);
    assert!(e.message.starts_with("cannot read the rooms-config directory"), "{e}");
    assert!(fingerprint_dir(&missing).is_err());
}

#[test]
fn non_utf8_file() {
    let s = Scratch::demo();
    let mut bytes = s.read("agencies.toml").into_bytes();
    bytes.extend_from_slice(b"\n# \xff\n");
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    std::fs::write(s.path("agencies.toml"), bytes).unwrap();
    assert_err(&s.load_err(), "agencies.toml", Some(lines), None, "not valid UTF-8");
}

#[test]
fn fingerprint_changes_exactly_when_a_toml_file_does() {
    let s = Scratch::demo();
    let base = fingerprint_dir(&s.0).unwrap();
    assert_eq!(base, fingerprint_dir(&demo_dir()).unwrap(), "depends on relative paths and bytes only");
    assert_eq!(base, s.load().unwrap().fingerprint);
    assert_eq!(base, fingerprint_dir(&s.0).unwrap(), "stable");

    // Rewriting the same bytes, or touching files that are not *.toml, changes nothing.
    s.write("people.toml", &s.read("people.toml"));
    s.write("README.md", "changed");
    s.write("service-points/notes.txt", "new");
    assert_eq!(fingerprint_dir(&s.0).unwrap(), base);

    // One byte in one file does.
    s.edit("agencies.toml", "name = \"Kela\"", "name = \"KELA\"");
    let edited = fingerprint_dir(&s.0).unwrap();
    assert_ne!(edited, base);
    assert_eq!(s.load().unwrap().fingerprint, edited);
    s.edit("agencies.toml", "name = \"KELA\"", "name = \"Kela\"");
    assert_eq!(fingerprint_dir(&s.0).unwrap(), base, "back to the same bytes, back to the same fingerprint");

    // So do renaming, adding and removing a *.toml file.
    let text = s.read("service-points/kiiminki.toml");
    s.remove("service-points/kiiminki.toml");
    let removed = fingerprint_dir(&s.0).unwrap();
    assert_ne!(removed, base);
    s.write("service-points/kiiminki2.toml", &text);
    let renamed = fingerprint_dir(&s.0).unwrap();
    assert_ne!(renamed, base);
    assert_ne!(renamed, removed);
    s.remove("service-points/kiiminki2.toml");
    s.write("service-points/kiiminki.toml", &text);
    assert_eq!(fingerprint_dir(&s.0).unwrap(), base);
    s.write("extra.toml", "");
    assert_ne!(fingerprint_dir(&s.0).unwrap(), base, "a stray file changes it too, so its error is reported");
}

#[test]
fn error_display() {
    let e = ConfigError::new("people.toml", Some(3), Some("person[0].role".into()), "bad");
    assert_eq!(e.to_string(), "people.toml:3: person[0].role: bad");
    let e = ConfigError::new("people.toml", None, Some("person[0]".into()), "bad");
    assert_eq!(e.to_string(), "people.toml: person[0]: bad");
    let e = ConfigError::new("agencies.toml", Some(7), None, "bad");
    assert_eq!(e.to_string(), "agencies.toml:7: bad");
}

// ------------------------------------------------------------------------------------------------------------
// The calendar: booking rules, services, availability, opening hours

#[test]
fn demo_calendar_loads() {
    use vayla_domain::calendar::{AgencyRule, ExceptionChange, LocalRange, WeeklyRange};
    let c = load_dir(&demo_dir()).unwrap();
    assert_eq!(c.agencies["kela"].calendar.rule, AgencyRule::WalkInAndAppointment);
    assert_eq!(c.agencies["poliisi"].calendar.rule, AgencyRule::AppointmentOnly);
    assert_eq!(
        c.agencies["dvv"].calendar.rule,
        AgencyRule::FixedWindows(vec![
            WeeklyRange::new(chrono::Weekday::Tue, LocalRange::hm(9, 0, 11, 0)),
            WeeklyRange::new(chrono::Weekday::Thu, LocalRange::hm(13, 0, 15, 0)),
        ])
    );
    let benefits = &c.agencies["kela"].calendar.services[0];
    assert_eq!(
        (benefits.id.as_str(), benefits.duration_minutes, benefits.buffer_before_minutes),
        ("kela-benefits", 30, 5)
    );
    let mikkeli = &c.service_points["mikkeli"].opening_hours;
    assert_eq!(mikkeli.weekly.len(), 5);
    assert!(mikkeli.closed_on_holidays);
    assert!(matches!(mikkeli.exceptions[0].change, ExceptionChange::Replace(_)));
    let mikko = &c.people[&subject("kela-mikko")];
    assert_eq!(mikko.expert.services.as_deref(), Some(&["kela-benefits".to_string()][..]));
    assert_eq!(mikko.expert.stand_ins, ["kela-anna"]);
    assert_eq!(mikko.availability.as_ref().unwrap().weekly.len(), 4, "mon-thu");
    assert_eq!(c.people[&subject("kela-anna")].expert.services, None, "no list: every service of the agency");
    assert!(c.people[&subject("tulkki-sami")].availability.is_some());
    assert!(c.people[&subject("scheduler")].availability.is_none());
}

#[test]
fn unknown_rule_and_windows_without_fixed_windows() {
    let s = Scratch::demo();
    let line = s.edit(
        "agencies.toml",
        "rule = \"appointment_only\"\n\n[[agency.service]]\nid = \"poliisi-permit\"",
        "rule = \"by_appointment\"\n\n[[agency.service]]\nid = \"poliisi-permit\"",
    );
    assert_err(&s.load_err(), "agencies.toml", Some(line), Some("agency[2].rule"), "unknown rule \"by_appointment\"");

    let s = Scratch::demo();
    let line = s.edit(
        "agencies.toml",
        "id = \"te\"\nname = \"TE-toimisto\"\nrule = \"appointment_only\"",
        "id = \"te\"\nname = \"TE-toimisto\"\nrule = \"appointment_only\"\nwindows = [\"mon 09:00-10:00\"]",
    ) + 3;
    assert_err(&s.load_err(), "agencies.toml", Some(line), Some("agency[4].windows"), "fixed_windows");
}

#[test]
fn bad_weekly_times_name_their_field() {
    let s = Scratch::demo();
    let line = s.edit(
        "agencies.toml",
        "windows = [\"tue 09:00-11:00\", \"thu 13:00-15:00\"]",
        "windows = [\"tue 09:00-11:00\", \"thu 15:00-13:00\"]",
    );
    assert_err(&s.load_err(), "agencies.toml", Some(line), Some("agency[3].windows[1]"), "must end after it starts");

    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "te-jari");
    let line = s.edit_after(
        "people.toml",
        "id = \"te-jari\"",
        "availability = [\"mon-fri 08:00-16:00\"]",
        "availability = [\"mon-fry 08:00-16:00\"]",
    );
    let field = format!("person[{i}].availability[0]");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "unknown day");

    let s = Scratch::demo();
    let line = s.edit(
        "service-points/kiiminki.toml",
        "opening_hours = [\"mon-thu 09:00-15:00\"]",
        "opening_hours = [\"mon-thu 9-15\"]",
    );
    assert_err(&s.load_err(), "service-points/kiiminki.toml", Some(line), Some("opening_hours[0]"), "HH:MM");

    let s = Scratch::demo();
    let line = s.edit("service-points/mikkeli.toml", "change = \"replace\"", "change = \"shorter\"");
    assert_err(
        &s.load_err(),
        "service-points/mikkeli.toml",
        Some(line),
        Some("opening_exception[0].change"),
        "unknown change",
    );
}

#[test]
fn services_and_stand_ins_must_belong_to_the_experts_agency() {
    let s = Scratch::demo();
    let text = s.read("people.toml");
    let i = person_index(&text, "kela-mikko");
    let line = s.edit("people.toml", "services = [\"kela-benefits\"]", "services = [\"vero-taxation\"]");
    let field = format!("person[{i}].services[0]");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "agency kela has no service \"vero-taxation\"");

    let s = Scratch::demo();
    let i = person_index(&text, "vero-liisa");
    let line = s.edit("people.toml", "stand_ins = [\"vero-juha\"]", "stand_ins = [\"kela-anna\"]");
    let field = format!("person[{i}].stand_ins[0]");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "not an expert of the same agency (vero)");

    // Someone removed from the config is dropped from the stand-in lists that name them: removing a person
    // must not be refused because a colleague still lists them.
    let s = Scratch::demo();
    s.edit("people.toml", "stand_ins = [\"vero-juha\"]", "stand_ins = [\"vero-pekka-left\", \"vero-juha\"]");
    let config = s.load().expect("a dangling stand-in does not refuse the config");
    let liisa = config.person(&SubjectId::new("vero-liisa").unwrap()).unwrap();
    assert_eq!(liisa.expert.stand_ins, ["vero-juha"]);

    let s = Scratch::demo();
    let i = person_index(&text, "advisor-mikkeli");
    let line = s.edit(
        "people.toml",
        "service_point = \"mikkeli\"",
        "service_point = \"mikkeli\"\navailability = [\"mon 09:00-10:00\"]",
    ) + 1;
    let field = format!("person[{i}].availability");
    assert_err(&s.load_err(), "people.toml", Some(line), Some(&field), "only experts and interpreters");
}

#[test]
fn service_ids_are_unique_across_agencies_and_within_bounds() {
    let s = Scratch::demo();
    let line = s.edit("agencies.toml", "id = \"vero-taxation\"", "id = \"kela-benefits\"");
    assert_err(&s.load_err(), "agencies.toml", Some(line - 1), Some("agency[1].service[0].id"), "duplicate service id");

    let s = Scratch::demo();
    let line = s.edit("agencies.toml", "duration_minutes = 20", "duration_minutes = 0");
    let e = s.load_err();
    assert_eq!(e.field.as_deref(), Some("agency[2].service[0]"));
    assert!(e.line.is_some_and(|l| l <= line), "{e}");
    assert!(e.message.contains("duration_minutes"), "{e}");
}
