//! JSON written the way VBench's Python writes it (`json.dump(obj, f, indent=4)`): keys in
//! insertion order, floats as Python `repr` (shortest round-trip, `1e-05`, `1.0`), `NaN` and
//! `Infinity` bare, non-ASCII escaped (`ensure_ascii=True`).
//!
//! The per-video JSON-lines file must stay parseable by strict readers, so
//! [`PyJson::to_serde`] maps non-finite floats to `null` there.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub enum PyJson {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyJson>),
    Dict(Vec<(String, PyJson)>),
}

impl PyJson {
    pub fn dict<K: Into<String>>(items: impl IntoIterator<Item = (K, PyJson)>) -> Self {
        PyJson::Dict(items.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn get(&self, key: &str) -> Option<&PyJson> {
        match self {
            PyJson::Dict(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyJson::Float(f) => Some(*f),
            PyJson::Int(i) => Some(*i as f64),
            PyJson::Bool(b) => Some(*b as i64 as f64),
            PyJson::Null => Some(f64::NAN),
            _ => None,
        }
    }

    /// `json.dump(self, indent=4)`.
    pub fn to_python_string(&self) -> String {
        let mut s = String::new();
        self.write_indented(&mut s, 0);
        s
    }

    fn write_indented(&self, out: &mut String, level: usize) {
        match self {
            PyJson::List(items) if !items.is_empty() => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, level + 1);
                    v.write_indented(out, level + 1);
                }
                newline(out, level);
                out.push(']');
            }
            PyJson::Dict(items) if !items.is_empty() => {
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, level + 1);
                    write_str(out, k);
                    out.push_str(": ");
                    v.write_indented(out, level + 1);
                }
                newline(out, level);
                out.push('}');
            }
            PyJson::List(_) => out.push_str("[]"),
            PyJson::Dict(_) => out.push_str("{}"),
            scalar => scalar.write_scalar(out),
        }
    }

    fn write_scalar(&self, out: &mut String) {
        match self {
            PyJson::Null => out.push_str("null"),
            PyJson::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            PyJson::Int(i) => {
                let _ = write!(out, "{i}");
            }
            PyJson::Float(f) => out.push_str(&py_float_repr(*f)),
            PyJson::Str(s) => write_str(out, s),
            _ => unreachable!("containers are written by write_indented"),
        }
    }

    /// A serde_json value (non-finite floats become `null`) for JSON-lines output.
    pub fn to_serde(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            PyJson::Null => Value::Null,
            PyJson::Bool(b) => Value::Bool(*b),
            PyJson::Int(i) => Value::from(*i),
            PyJson::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            PyJson::Str(s) => Value::String(s.clone()),
            PyJson::List(v) => Value::Array(v.iter().map(|x| x.to_serde()).collect()),
            PyJson::Dict(items) => {
                let mut m = serde_json::Map::new();
                for (k, v) in items {
                    m.insert(k.clone(), v.to_serde());
                }
                Value::Object(m)
            }
        }
    }

    /// The inverse of [`PyJson::to_serde`] (integers stay integers; `null` stays `null`).
    pub fn from_serde(v: &serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Null => PyJson::Null,
            Value::Bool(b) => PyJson::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) if !n.is_f64() => PyJson::Int(i),
                _ => PyJson::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => PyJson::Str(s.clone()),
            Value::Array(a) => PyJson::List(a.iter().map(PyJson::from_serde).collect()),
            Value::Object(m) => PyJson::Dict(
                m.iter()
                    .map(|(k, v)| (k.clone(), PyJson::from_serde(v)))
                    .collect(),
            ),
        }
    }
}

fn newline(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("    ");
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `float.__repr__`: the shortest digits that round-trip, in positional notation
/// when the decimal exponent is in [-4, 16), else `d.ddde±XX`.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.2345e-5".
    let sci = format!("{:e}", f);
    let (mant, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let s = if exp >= 0 {
            if n > exp + 1 {
                format!(
                    "{}.{}",
                    &digits[..(exp + 1) as usize],
                    &digits[(exp + 1) as usize..]
                )
            } else {
                format!("{}{}.0", digits, "0".repeat((exp + 1 - n) as usize))
            }
        } else {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let es = if exp < 0 { "-" } else { "+" };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python_repr() {
        assert_eq!(py_float_repr(1.0), "1.0");
        assert_eq!(py_float_repr(0.5), "0.5");
        assert_eq!(py_float_repr(1e-5), "1e-05");
        assert_eq!(py_float_repr(0.0001), "0.0001");
        assert_eq!(py_float_repr(0.9612345678901234), "0.9612345678901234");
        assert_eq!(py_float_repr(-0.04966529918344397), "-0.04966529918344397");
        assert_eq!(py_float_repr(1e16), "1e+16");
        assert_eq!(py_float_repr(123456789012345.0), "123456789012345.0");
        assert_eq!(py_float_repr(2.5e-7), "2.5e-07");
        assert_eq!(py_float_repr(f64::NAN), "NaN");
        assert_eq!(py_float_repr(100.0), "100.0");
    }

    #[test]
    fn dump_matches_python_indent4() {
        let v = PyJson::dict([(
            "subject_consistency",
            PyJson::List(vec![
                PyJson::Float(0.5),
                PyJson::List(vec![PyJson::dict([
                    ("video_path", PyJson::Str("v/é.mp4".into())),
                    ("video_results", PyJson::Bool(true)),
                    ("frame_results", PyJson::List(vec![])),
                ])]),
            ]),
        )]);
        let expected = "{\n    \"subject_consistency\": [\n        0.5,\n        [\n            {\n                \"video_path\": \"v/\\u00e9.mp4\",\n                \"video_results\": true,\n                \"frame_results\": []\n            }\n        ]\n    ]\n}";
        assert_eq!(v.to_python_string(), expected);
    }
}
