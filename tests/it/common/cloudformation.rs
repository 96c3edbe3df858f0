//! CloudFormation as the tests read it: a template loaded, its conditions decided for given
//! parameter values, `Fn::If` and `AWS::NoValue` resolved, rules checked, references followed,
//! and expressions (`Ref`, `Fn::Join`, `Fn::Split`, `Fn::Sub`, `Fn::Select`, list parameters)
//! computed to the strings CloudFormation would pass (what `tests/it/template.rs` judges the
//! templates with).

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

// ---------------------------------------------------------------------------------------------
// Evaluation of a template for given parameter values, as CloudFormation does it.
// ---------------------------------------------------------------------------------------------

/// A template evaluated for given parameter values: its conditions decided, the resources and
/// outputs whose condition is false dropped, every `Fn::If` replaced by its chosen branch and
/// every `AWS::NoValue` entry removed. `Ref`s to parameters in properties are left as they are.
pub struct Evaluated {
    pub doc: Value,
    pub conditions: BTreeMap<String, bool>,
    /// The parameter values given (the others take their defaults).
    pub values: BTreeMap<String, String>,
}

impl Evaluated {
    /// `value` computed for these parameter values (see [`compute`]).
    pub fn compute(&self, value: &Value) -> Value {
        let values: BTreeMap<&str, &str> = self
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        compute(&self.doc, &values, value)
    }

    /// `value` computed, as a list of strings (one string is a list of one).
    pub fn compute_strings(&self, value: &Value) -> Vec<String> {
        strings(&self.compute(value))
    }
}

/// The pseudo parameters' values in computed expressions.
pub const PSEUDO_PARAMETERS: [(&str, &str); 5] = [
    ("AWS::AccountId", "123456789012"),
    ("AWS::Partition", "aws"),
    ("AWS::Region", "us-east-1"),
    ("AWS::StackName", "dyno"),
    ("AWS::URLSuffix", "amazonaws.com"),
];

pub fn scalar_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

pub fn parameter_value(doc: &Value, values: &BTreeMap<&str, &str>, name: &str) -> String {
    if let Some(value) = values.get(name) {
        return (*value).to_owned();
    }
    match get(doc, &["Parameters", name]).get("Default") {
        Some(default) => scalar_string(default),
        None => panic!("parameter {name} has no default and no value"),
    }
}

/// Whether a parameter is a list (`CommaDelimitedList`, `List<...>`): its `Ref` is a list.
pub fn is_list_parameter(doc: &Value, name: &str) -> bool {
    let kind = get(doc, &["Parameters", name, "Type"])
        .as_str()
        .unwrap_or_default();
    kind == "CommaDelimitedList" || kind.starts_with("List<")
}

/// An operand of `Fn::Equals`: a literal, a `Ref` to a parameter or an expression of them
/// (e.g. `Fn::Join` over a list parameter), which must come to one string.
pub fn operand(doc: &Value, values: &BTreeMap<&str, &str>, value: &Value) -> String {
    match compute(doc, values, value) {
        Value::Sequence(list) => panic!("Fn::Equals compares strings, not the list {list:?}"),
        other => scalar_string(&other),
    }
}

/// The value CloudFormation computes for an expression, given the parameter values: a string
/// or a list of strings. A `Ref` to a list parameter is its comma-separated values (an empty
/// value is `[""]`, as in CloudFormation); pseudo parameters take
/// [`PSEUDO_PARAMETERS`]; a resource (`Ref`, `Fn::GetAtt`, `${Name}`, `${Name.Attribute}`) is
/// the placeholder `<Name>` or `<Name.Attribute>`. `Fn::If` must be resolved first.
pub fn compute(doc: &Value, values: &BTreeMap<&str, &str>, value: &Value) -> Value {
    let name_of = |name: &str| -> Value {
        if let Some((_, v)) = PSEUDO_PARAMETERS.iter().find(|(p, _)| *p == name) {
            return Value::String((*v).to_owned());
        }
        if doc.get("Parameters").and_then(|p| p.get(name)).is_some() {
            let value = parameter_value(doc, values, name);
            return if is_list_parameter(doc, name) {
                Value::Sequence(
                    value
                        .split(',')
                        .map(|part| Value::String(part.to_owned()))
                        .collect(),
                )
            } else {
                Value::String(value)
            };
        }
        let resource = name.split('.').next().unwrap_or_default();
        assert!(
            doc.get("Resources").and_then(|r| r.get(resource)).is_some(),
            "{name} is neither a parameter, a pseudo parameter nor a resource"
        );
        Value::String(format!("<{name}>"))
    };
    let text = |value: &Value| -> String {
        match compute(doc, values, value) {
            Value::Sequence(list) => panic!("expected a string, found the list {list:?}"),
            other => scalar_string(&other),
        }
    };
    let list = |value: &Value| -> Vec<String> {
        match compute(doc, values, value) {
            Value::Sequence(items) => items.iter().map(scalar_string).collect(),
            other => panic!("expected a list, found {other:?}"),
        }
    };
    match value {
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|item| compute(doc, values, item))
                .collect(),
        ),
        Value::Mapping(map) if map.len() == 1 => {
            let (function, argument) = map.iter().next().expect("one entry");
            let arguments = || {
                argument
                    .as_sequence()
                    .unwrap_or_else(|| panic!("{function:?} takes a list"))
            };
            match function.as_str().unwrap_or_default() {
                "Ref" => name_of(argument.as_str().expect("Ref names something")),
                "Fn::GetAtt" => name_of(&strings(argument).join(".")),
                "Fn::Join" => {
                    let a = arguments();
                    assert_eq!(a.len(), 2, "Fn::Join [delimiter, list]");
                    Value::String(list(&a[1]).join(&text(&a[0])))
                }
                "Fn::Split" => {
                    let a = arguments();
                    assert_eq!(a.len(), 2, "Fn::Split [delimiter, string]");
                    let delimiter = text(&a[0]);
                    Value::Sequence(
                        text(&a[1])
                            .split(delimiter.as_str())
                            .map(|part| Value::String(part.to_owned()))
                            .collect(),
                    )
                }
                "Fn::Select" => {
                    let a = arguments();
                    assert_eq!(a.len(), 2, "Fn::Select [index, list]");
                    let index: usize = text(&a[0]).parse().expect("an index");
                    Value::String(list(&a[1])[index].clone())
                }
                "Fn::Sub" => {
                    let (pattern, variables) = match argument {
                        Value::Sequence(parts) => (
                            parts[0].as_str().expect("a string"),
                            parts.get(1).and_then(Value::as_mapping),
                        ),
                        other => (other.as_str().expect("a string"), None),
                    };
                    let mut out = String::new();
                    let mut rest = pattern;
                    while let Some(start) = rest.find("${") {
                        out.push_str(&rest[..start]);
                        let end = rest[start..].find('}').expect("a closed ${") + start;
                        let name = &rest[start + 2..end];
                        if let Some(literal) = name.strip_prefix('!') {
                            out.push_str(&format!("${{{literal}}}"));
                        } else {
                            let variable = variables.and_then(|v| v.get(name));
                            out.push_str(&match variable {
                                Some(expression) => text(expression),
                                None => match name_of(name) {
                                    Value::Sequence(l) => panic!("Fn::Sub of the list {l:?}"),
                                    other => scalar_string(&other),
                                },
                            });
                        }
                        rest = &rest[end + 1..];
                    }
                    out.push_str(rest);
                    Value::String(out)
                }
                other if other.starts_with("Fn::") || other == "Condition" => {
                    panic!("compute does not know {other}")
                }
                _ => value.clone(),
            }
        }
        other => other.clone(),
    }
}

/// Decides a condition (or a rule's condition or assertion).
pub fn decide(doc: &Value, values: &BTreeMap<&str, &str>, condition: &Value) -> bool {
    let map = condition
        .as_mapping()
        .unwrap_or_else(|| panic!("a condition is a mapping: {condition:?}"));
    assert_eq!(map.len(), 1, "one function per condition: {condition:?}");
    let (function, argument) = map.iter().next().expect("one entry");
    let list = || {
        argument
            .as_sequence()
            .unwrap_or_else(|| panic!("{function:?} takes a list"))
    };
    match function.as_str().expect("a function name") {
        "Fn::Equals" => {
            let operands = list();
            assert_eq!(operands.len(), 2, "Fn::Equals takes two values");
            operand(doc, values, &operands[0]) == operand(doc, values, &operands[1])
        }
        "Fn::Not" => {
            let operands = list();
            assert_eq!(operands.len(), 1, "Fn::Not takes one condition");
            !decide(doc, values, &operands[0])
        }
        "Fn::And" => {
            assert!((2..=10).contains(&list().len()), "Fn::And takes 2 to 10");
            list().iter().all(|c| decide(doc, values, c))
        }
        "Fn::Or" => {
            assert!((2..=10).contains(&list().len()), "Fn::Or takes 2 to 10");
            list().iter().any(|c| decide(doc, values, c))
        }
        "Condition" => {
            let name = argument.as_str().expect("a condition name");
            decide(doc, values, get(doc, &["Conditions", name]))
        }
        other => panic!("unsupported condition function {other}"),
    }
}

/// The value with every `Fn::If` resolved and every `AWS::NoValue` removed (`None`: the value
/// itself is `AWS::NoValue`).
pub fn resolve(value: &Value, conditions: &BTreeMap<String, bool>) -> Option<Value> {
    match value {
        Value::Mapping(map) => {
            if map.len() == 1 {
                if let Some(branches) = value.get("Fn::If") {
                    let branches = branches.as_sequence().expect("Fn::If takes a list");
                    assert_eq!(branches.len(), 3, "Fn::If [condition, then, else]");
                    let name = branches[0].as_str().expect("Fn::If names a condition");
                    let chosen = if *conditions
                        .get(name)
                        .unwrap_or_else(|| panic!("unknown condition {name}"))
                    {
                        &branches[1]
                    } else {
                        &branches[2]
                    };
                    return resolve(chosen, conditions);
                }
                if value.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
                    return None;
                }
            }
            let mut out = Mapping::new();
            for (key, item) in map {
                if let Some(item) = resolve(item, conditions) {
                    out.insert(key.clone(), item);
                }
            }
            Some(Value::Mapping(out))
        }
        Value::Sequence(items) => Some(Value::Sequence(
            items
                .iter()
                .filter_map(|item| resolve(item, conditions))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

pub fn evaluate(doc: &Value, given: &[(&str, &str)]) -> Evaluated {
    let values: BTreeMap<&str, &str> = given.iter().copied().collect();
    for (name, value) in &values {
        let declared = doc
            .get("Parameters")
            .and_then(|p| p.get(*name))
            .unwrap_or_else(|| panic!("the template has no parameter {name}"));
        if let Some(allowed) = declared.get("AllowedValues") {
            assert!(
                strings(allowed).iter().any(|a| a == value),
                "{name}={value} is not allowed"
            );
        }
    }
    let conditions: BTreeMap<String, bool> = doc
        .get("Conditions")
        .and_then(Value::as_mapping)
        .map(|all| {
            all.iter()
                .map(|(name, condition)| {
                    let name = name.as_str().expect("a condition name").to_owned();
                    (name, decide(doc, &values, condition))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = doc.clone();
    for section in ["Resources", "Outputs"] {
        let Some(entries) = doc.get(section).and_then(Value::as_mapping) else {
            continue;
        };
        let mut kept = Mapping::new();
        for (name, entry) in entries {
            let on = entry
                .get("Condition")
                .and_then(Value::as_str)
                .is_none_or(|c| conditions[c]);
            if on {
                kept.insert(name.clone(), resolve(entry, &conditions).expect("an entry"));
            }
        }
        out.as_mapping_mut()
            .expect("a template is a mapping")
            .insert(section.into(), Value::Mapping(kept));
    }
    Evaluated {
        doc: out,
        conditions,
        values: values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// The rules (of the `Rules` section) the values break.
pub fn broken_rules(doc: &Value, given: &[(&str, &str)]) -> Vec<String> {
    let values: BTreeMap<&str, &str> = given.iter().copied().collect();
    let mut broken = Vec::new();
    let Some(rules) = doc.get("Rules").and_then(Value::as_mapping) else {
        return broken;
    };
    for (name, rule) in rules {
        let applies = rule
            .get("RuleCondition")
            .is_none_or(|c| decide(doc, &values, c));
        let holds = get(rule, &["Assertions"])
            .as_sequence()
            .expect("Assertions is a list")
            .iter()
            .all(|a| decide(doc, &values, get(a, &["Assert"])));
        if applies && !holds {
            broken.push(name.as_str().unwrap_or("?").to_owned());
        }
    }
    broken
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
