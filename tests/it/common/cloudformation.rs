//! CloudFormation as the tests read it: a template loaded, its conditions decided for given
//! parameter values, `Fn::If` and `AWS::NoValue` resolved, rules checked, references followed,
//! and expressions (`Ref`, `Fn::Join`, `Fn::Split`, `Fn::Sub`, `Fn::Select`, list parameters)
//! computed to the strings CloudFormation would pass (what `tests/it/template.rs` judges the
//! templates with).

mod evaluation;
mod expressions;
pub use evaluation::*;
pub use expressions::*;

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::{Mapping, Value};

pub fn load(file: &str) -> Value {
    let path = super::project_root().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file} is not plain YAML: {e}"))
}

pub fn template() -> Value {
    load("template.yaml")
}

pub fn replica_template() -> Value {
    load("replica-account.yaml")
}

pub fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("template has no {}", path.join(".")))
    })
}

pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        other => panic!("expected a string or a list of strings, found {other:?}"),
    }
}

/// A value written in YAML, e.g. `yaml("Ref: ReplicatorFunction")`.
pub fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("valid YAML")
}

/// `{Fn::Sub: text}`.
pub fn sub(text: &str) -> Value {
    let mut map = Mapping::new();
    map.insert("Fn::Sub".into(), text.into());
    Value::Mapping(map)
}

/// Every scalar string in the document, with the path to it.
pub fn walk(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path, s.clone())),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map {
                let key = k.as_str().unwrap_or("?");
                out.push((format!("{path}.{key}<key>"), key.to_owned()));
                walk(v, format!("{path}.{key}"), out);
            }
        }
        Value::Tagged(tagged) => panic!(
            "{path}: short-form intrinsic {} (write the long form, e.g. Fn::GetAtt:)",
            tagged.tag
        ),
        _ => {}
    }
}

pub fn all_strings(value: &Value, path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(value, path.to_owned(), &mut out);
    out
}

/// The names a value refers to: `Ref`, `Fn::GetAtt`, `${...}` in `Fn::Sub`, `DependsOn`.
pub fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(map) => {
            if let Some(name) = value.get("Ref").and_then(Value::as_str) {
                out.insert(name.to_owned());
            }
            if let Some(att) = value.get("Fn::GetAtt") {
                let parts = strings(att);
                out.insert(parts[0].split('.').next().unwrap_or_default().to_owned());
            }
            if let Some(text) = value.get("Fn::Sub") {
                let (text, variables) = match text {
                    Value::Sequence(parts) => (parts[0].as_str().expect("a string"), parts.get(1)),
                    other => (other.as_str().expect("a string"), None),
                };
                for name in sub_names(text) {
                    if variables.and_then(|v| v.get(name.as_str())).is_none() {
                        out.insert(name);
                    }
                }
            }
            if let Some(depends) = value.get("DependsOn") {
                out.extend(strings(depends));
            }
            for (key, item) in map {
                if key.as_str() != Some("Fn::Sub") {
                    references(item, out);
                } else if let Some(variables) = item.as_sequence().and_then(|p| p.get(1)) {
                    references(variables, out);
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| references(item, out)),
        _ => {}
    }
}

/// The names in a `Fn::Sub` string (`${Name}`, `${Name.Attribute}`, not `${!Literal}`).
pub fn sub_names(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter(|part| !part.starts_with('!'))
        .map(|part| {
            let inner = part.split('}').next().unwrap_or_default();
            inner.split('.').next().unwrap_or_default().to_owned()
        })
        .collect()
}

/// Every name referred to in the evaluated resources and outputs is a parameter, a pseudo
/// parameter or a resource that exists for these values.
pub fn assert_no_dangling_references(evaluated: &Evaluated, variant: &str) -> BTreeSet<String> {
    let doc = &evaluated.doc;
    let mut referred = BTreeSet::new();
    references(get(doc, &["Resources"]), &mut referred);
    references(get(doc, &["Outputs"]), &mut referred);
    let known = |section: &str| -> BTreeSet<String> {
        doc.get(section)
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let parameters = known("Parameters");
    let resources = known("Resources");
    let pseudo = [
        "AWS::AccountId",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackName",
        "AWS::URLSuffix",
    ];
    for name in &referred {
        assert!(
            parameters.contains(name)
                || resources.contains(name)
                || pseudo.contains(&name.as_str()),
            "{variant}: {name} is referred to but does not exist"
        );
    }
    assert!(
        !all_strings(doc, "")
            .iter()
            .any(|(_, s)| s == "Fn::If" || s == "AWS::NoValue"),
        "{variant}: the evaluation left an Fn::If or AWS::NoValue"
    );
    referred
}

pub fn resources_of_type<'a>(doc: &'a Value, kind: &str) -> BTreeMap<String, &'a Value> {
    get(doc, &["Resources"])
        .as_mapping()
        .expect("Resources is a mapping")
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .map(|(name, r)| (name.as_str().expect("a name").to_owned(), r))
        .collect()
}
