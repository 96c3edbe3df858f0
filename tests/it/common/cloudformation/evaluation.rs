//! A template evaluated for given parameter values, as CloudFormation does it: conditions
//! decided, `Fn::If` and `AWS::NoValue` resolved, resources and outputs whose condition is false
//! dropped; and the rules the values break.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use super::{compute, get, operand, strings};

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
