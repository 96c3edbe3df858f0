//! Tests of `filter_value.rs`: which DynamoDB numbers become an int, a uint or a double, and
//! which no CEL number holds exactly.

use super::*;

fn int(text: &str) -> i64 {
    match exact_number(text) {
        Ok(Number::Int(i)) => i,
        other => panic!("`{text}` gave {other:?}, not an int"),
    }
}

fn double(text: &str) -> f64 {
    match exact_number(text) {
        Ok(Number::Double(d)) => d,
        other => panic!("`{text}` gave {other:?}, not a double"),
    }
}

#[test]
fn integers_that_fit_are_ints_or_uints() {
    assert_eq!(int("0"), 0);
    assert_eq!(int("-0"), 0);
    assert_eq!(int("0.000"), 0);
    assert_eq!(int("100"), 100);
    assert_eq!(int("1e2"), 100);
    assert_eq!(int("1.5E1"), 15);
    assert_eq!(int("+7"), 7);
    assert_eq!(int("-7.000"), -7);
    assert_eq!(int("9007199254740993.0"), 9_007_199_254_740_993);
    assert_eq!(int("9223372036854775807"), i64::MAX);
    assert_eq!(int("-9223372036854775808"), i64::MIN);
    assert_eq!(
        exact_number("9223372036854775808"),
        Ok(Number::UInt(9_223_372_036_854_775_808))
    );
    assert_eq!(
        exact_number("18446744073709551615"),
        Ok(Number::UInt(u64::MAX))
    );
    assert_eq!(
        exact_number("1.8446744073709551615e19"),
        Ok(Number::UInt(u64::MAX))
    );
}

#[test]
fn decimals_a_double_holds_exactly_are_doubles() {
    assert_eq!(double("0.1"), 0.1);
    assert_eq!(double("1.50"), 1.5);
    assert_eq!(double("-2.5e-3"), -0.0025);
    assert_eq!(double("1e30"), 1e30);
    assert_eq!(double("1E+30"), 1e30);
    assert_eq!(double("9.99e125"), 9.99e125);
    assert_eq!(double("-10000000000000000000"), -1e19);
    assert_eq!(double("0.30000000000000004"), 0.1 + 0.2);
}

#[test]
fn numbers_no_cel_number_holds_exactly_are_refused() {
    for text in [
        "9007199254740992.5",
        "10000000000000000000000000000000000001",
        "18446744073709551616",
        "-9223372036854775809",
        "0.12345678901234567890123456789012345678",
        "3.14159265358979323846",
        "1e400",
    ] {
        assert_eq!(exact_number(text), Err(Unconvertible::Inexact), "{text}");
    }
}

#[test]
fn text_that_is_not_a_number_does_not_parse() {
    for text in [
        "", "-", ".", "e5", "1e", "1e+", "twelve", "NaN", "inf", "1.2.3", "1_000", " 1", "1e5.0",
        "0x10", "١",
    ] {
        assert_eq!(
            exact_number(text),
            Err(Unconvertible::NumberSyntax),
            "{text}"
        );
    }
}

#[test]
fn a_decimal_is_normalized_to_sign_digits_and_exponent() {
    let decimal = |negative, digits: &str, exponent| {
        Some(Decimal {
            negative,
            digits: digits.as_bytes().to_vec(),
            exponent,
        })
    };
    assert_eq!(Decimal::parse("-001.500"), decimal(true, "15", -1));
    assert_eq!(Decimal::parse("1.5e-7"), decimal(false, "15", -8));
    assert_eq!(Decimal::parse("12000"), decimal(false, "12", 3));
    assert_eq!(Decimal::parse("-0.0e9"), decimal(false, "", 0));
    assert_eq!(Decimal::parse("1e99999999999999999999"), None);
}
