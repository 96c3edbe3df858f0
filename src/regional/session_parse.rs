//! Reading a saved session (see `crate::regional::session_file`) entry by entry: the JSON is
//! never built whole in memory, only the newest `max_keys` entries are kept, a field given twice
//! (at any depth of a key too, through `json::parse_item`) or unknown is refused, and nothing of
//! the file is quoted except the table's name, escaped.

use std::collections::VecDeque;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::aws::identity::Identity;
use crate::aws::json::{self, Item};
use crate::aws::key::canonical_number;
use crate::aws::printable::unprintable;
use crate::regional::digest::{DIGEST_BYTES, Digest};
use crate::regional::session::{Expect, Held};

use super::{KIND, SKEW_MS, VERSION};

/// What is wrong with a saved session (never quoting its keys: they are the user's data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("is not base64")]
    Base64,
    #[error("is not JSON ({kind} error at line {line} column {column})")]
    Json {
        kind: &'static str,
        line: usize,
        column: usize,
    },
    #[error("is not a dyno session (it has no \"kind\": \"{KIND}\")")]
    NotSession,
    #[error("is of version {0}, which no dyno writes (this one reads version {VERSION})")]
    Version(u64),
    /// Written by a newer dyno (told apart by `SessionError::Newer`).
    #[error("is of version {0}, written by a newer dyno (this one reads version {VERSION})")]
    Newer(u64),
    #[error("has a version that is not a whole number (it must be one, e.g. {VERSION})")]
    VersionNotWhole,
    #[error("has no {0}")]
    Missing(&'static str),
    #[error("has a field of the wrong type (line {line} column {column})")]
    Shape { line: usize, column: usize },
    #[error("gives the field \"{0}\" twice")]
    Duplicate(&'static str),
    #[error("has a field this dyno does not know ({0})")]
    Unknown(String),
    #[error("has a table name that is no DynamoDB table name ({0})")]
    TableName(String),
    #[error("has an unreadable key (entry {entry}): {what}")]
    Entry { entry: usize, what: String },
    #[error(
        "has a key written {ahead_s} s in the future (entry {entry}), more than the {} s of clock \
         skew tolerated: this host's clock, or the writer's, is wrong",
        SKEW_MS / 1000
    )]
    Future { entry: usize, ahead_s: u64 },
}

/// A saved session, read.
#[derive(Debug)]
pub struct Parsed {
    pub table: String,
    pub identity: Identity,
    /// The newest `max_keys` entries, oldest first.
    pub held: Vec<Held>,
}

/// Reads `bytes` (see the module's docs), keeping at most `max_keys` entries, as of `now_ms`.
pub fn parse(bytes: &[u8], max_keys: usize, now_ms: u64) -> Result<Parsed, Problem> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        // Not an object: not JSON, or not a session.
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => Problem::NotSession,
            Err(e) => syntax(&e),
        });
    }
    let mut fields = Fields::default();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let top = Top {
        fields: &mut fields,
        max_keys,
        now_ms,
    };
    top.deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|e| syntax(&e))?;
    fields.finish()
}

/// A name from the file as a message may show it: one line, control and invisible characters
/// escaped, at most 80 characters.
pub fn shown(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 80 {
            out.push('…');
            break;
        }
        match unprintable(c) || c == '`' {
            true => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            false => out.push(c),
        }
    }
    out
}

fn syntax(e: &serde_json::Error) -> Problem {
    if e.classify() == serde_json::error::Category::Data {
        return Problem::Shape {
            line: e.line(),
            column: e.column(),
        };
    }
    Problem::Json {
        kind: match e.classify() {
            serde_json::error::Category::Eof => "end of file",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Io => "input",
        },
        line: e.line(),
        column: e.column(),
    }
}

/// The top-level fields as read; the first problem met is kept, the rest of the file still read
/// through (so that a syntax error further on is told first, as a damaged file).
#[derive(Default)]
struct Fields {
    kind: Option<String>,
    version: Option<Result<u64, Problem>>,
    table: Option<String>,
    arn: Option<String>,
    id: Option<String>,
    keys: Option<VecDeque<Held>>,
    problem: Option<Problem>,
    /// The first unreadable entry.
    entry: Option<Problem>,
    /// Which of [`FIELDS`] were given.
    seen: [bool; FIELDS.len()],
}

/// The fields of a saved session.
const FIELDS: [&str; 6] = ["kind", "version", "table", "table_arn", "table_id", "keys"];

impl Fields {
    fn finish(self) -> Result<Parsed, Problem> {
        if self.kind.as_deref() != Some(KIND) {
            return Err(Problem::NotSession);
        }
        match self.version {
            Some(Ok(VERSION)) => {}
            Some(Ok(v)) if v > VERSION => return Err(Problem::Newer(v)),
            Some(Ok(v)) => return Err(Problem::Version(v)),
            Some(Err(problem)) => return Err(problem),
            None => return Err(Problem::Missing("version")),
        }
        if let Some(problem) = self.problem.or(self.entry) {
            return Err(problem);
        }
        let table = self.table.ok_or(Problem::Missing("table"))?;
        // A name or an ARN (DynamoDB takes either), printable, so that messages can show it.
        let valid = (1..=2048).contains(&table.len()) && !table.chars().any(unprintable);
        if !valid {
            return Err(Problem::TableName(shown(&table)));
        }
        let keys = self.keys.ok_or(Problem::Missing("keys"))?;
        Ok(Parsed {
            table,
            identity: Identity {
                id: self.id,
                arn: self.arn,
            },
            held: keys.into(),
        })
    }

    fn problem(&mut self, problem: Problem) {
        self.problem.get_or_insert(problem);
    }
}

struct Top<'f> {
    fields: &'f mut Fields,
    max_keys: usize,
    now_ms: u64,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a dyno session object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let f = self.fields;
        while let Some(name) = map.next_key::<String>()? {
            let Some(at) = FIELDS.iter().position(|known| *known == name) else {
                map.next_value::<IgnoredAny>()?;
                f.problem(Problem::Unknown(shown(&name)));
                continue;
            };
            let field = FIELDS[at];
            if std::mem::replace(&mut f.seen[at], true) {
                map.next_value::<IgnoredAny>()?;
                f.problem(Problem::Duplicate(field));
                continue;
            }
            match field {
                "keys" => {
                    let mut keys = VecDeque::new();
                    map.next_value_seed(Entries {
                        keys: &mut keys,
                        first_problem: &mut f.entry,
                        max_keys: self.max_keys,
                        now_ms: self.now_ms,
                    })?;
                    f.keys = Some(keys);
                }
                "version" => {
                    let raw: &RawValue = map.next_value()?;
                    f.version = Some(version(raw.get()));
                }
                _ => {
                    let raw: &RawValue = map.next_value()?;
                    let text = serde_json::from_str::<String>(raw.get()).ok();
                    let slot = match field {
                        "kind" => &mut f.kind,
                        "table" => &mut f.table,
                        "table_arn" => &mut f.arn,
                        _ => &mut f.id,
                    };
                    // A value that is no string: as if missing, but still seen once.
                    *slot = Some(text.unwrap_or_default());
                }
            }
        }
        Ok(())
    }
}

fn version(raw: &str) -> Result<u64, Problem> {
    match (raw.parse::<u64>(), raw.parse::<f64>()) {
        (Ok(version), _) => Ok(version),
        (_, Ok(_)) => Err(Problem::VersionNotWhole),
        _ => Err(Problem::Missing("version")),
    }
}

/// The `keys` array, entry by entry, keeping the newest `max_keys`.
struct Entries<'k> {
    keys: &'k mut VecDeque<Held>,
    first_problem: &'k mut Option<Problem>,
    max_keys: usize,
    now_ms: u64,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of keys")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut entry = 0;
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if self.first_problem.is_none() {
                match held(raw.get(), self.now_ms) {
                    Ok(held) => {
                        self.keys.push_back(held);
                        if self.keys.len() > self.max_keys {
                            self.keys.pop_front();
                        }
                    }
                    Err(what) => *self.first_problem = Some(what.at(entry)),
                }
            }
            entry += 1;
        }
        Ok(())
    }
}

/// Why one entry cannot be read.
enum EntryProblem {
    What(String),
    Future(u64),
}

impl EntryProblem {
    /// The problem of the entry at `index` (0-based), numbered from 1 as a person counts.
    fn at(self, index: usize) -> Problem {
        let entry = index + 1;
        match self {
            EntryProblem::What(what) => Problem::Entry { entry, what },
            EntryProblem::Future(ahead_s) => Problem::Future { entry, ahead_s },
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry<'a> {
    #[serde(borrow)]
    key: &'a RawValue,
    #[serde(borrow)]
    expect: std::borrow::Cow<'a, str>,
    at: u64,
}

fn held(raw: &str, now_ms: u64) -> Result<Held, EntryProblem> {
    let what = |what: &str| EntryProblem::What(what.to_owned());
    let entry: Entry = serde_json::from_str(raw).map_err(|e| {
        // serde's message can quote a value: only its kind is told.
        let text = e.to_string();
        let missing = ["key", "expect", "at"]
            .into_iter()
            .find(|f| text.starts_with(&format!("missing field `{f}`")));
        match missing {
            Some(field) => EntryProblem::What(format!("no {field}")),
            None if text.starts_with("duplicate field") => what("a field is given twice"),
            None if text.starts_with("unknown field") => what("a field this dyno does not know"),
            None => what("a field of the wrong type (\"at\" is a whole number of milliseconds)"),
        }
    })?;
    let key = json::parse_item(entry.key.get())
        .map_err(|e| EntryProblem::What(format!("its key is not DynamoDB JSON ({e})")))?;
    key_checked(&key).map_err(EntryProblem::What)?;
    let expect = match entry.expect.as_ref() {
        "absent" => Expect::Absent,
        "unknown" => Expect::Unknown,
        text => {
            let encoded = text
                .strip_prefix("item:")
                .ok_or_else(|| what("its expect is unknown"))?;
            let bytes = (STANDARD.decode(encoded)).map_err(|_| what("its digest is not base64"))?;
            let digest: [u8; DIGEST_BYTES] = (bytes.try_into())
                .map_err(|_| what(&format!("its digest is not {DIGEST_BYTES} bytes")))?;
            Expect::Item(Digest(digest))
        }
    };
    if entry.at > now_ms.saturating_add(SKEW_MS) {
        // Rounded up: 30.5 s ahead reads "31 s", never the tolerated "30 s".
        return Err(EntryProblem::Future((entry.at - now_ms).div_ceil(1000)));
    }
    Ok(Held {
        key,
        expect,
        at_ms: entry.at,
    })
}

/// A key DynamoDB could hold: one or two attributes, each a non-empty string, binary, or a
/// number DynamoDB can store (named when it is not).
fn key_checked(key: &Item) -> Result<(), String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    if key.is_empty() || key.len() > 2 {
        return Err("its key has no attribute, or more than two".to_owned());
    }
    for (name, value) in key {
        let fits = match value {
            AttributeValue::S(s) => !s.is_empty(),
            AttributeValue::B(b) => !b.as_ref().is_empty(),
            AttributeValue::N(n) => match canonical_number(&shown(name), n) {
                Ok(_) => true,
                Err(e) => return Err(format!("its {e}")),
            },
            _ => false,
        };
        if !fits {
            return Err(format!(
                "its key attribute `{}` is not a non-empty string, number or binary",
                shown(name)
            ));
        }
    }
    Ok(())
}
