//! Expressions computed to what CloudFormation would pass: parameters (lists among them), pseudo
//! parameters, `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Split`, `Fn::Select` and `Fn::Sub`.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::{get, strings};

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
