//! CSV as the reports write it: RFC 4180 (comma separator, CRLF line ends, a field quoted with `"` when it holds
//! a comma, a quote or a line break, quotes doubled inside), UTF-8 without a byte-order mark, a decimal point.
//! Every file starts with one fixed header line; columns are only ever added at the end.

/// The CSV text of a header and rows.
pub fn write<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut out = String::new();
    line(&mut out, header.iter().copied());
    for r in rows {
        line(&mut out, r.iter().map(String::as_str));
    }
    out
}

fn line<'a>(out: &mut String, fields: impl Iterator<Item = &'a str>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
}
