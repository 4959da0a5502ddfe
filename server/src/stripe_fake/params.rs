//! Stripe's request parameters on the receiving side: `application/x-www-form-urlencoded` pairs whose
//! bracketed keys (`line_items[0][price_data][currency]`) build a tree, and a small schema per endpoint so
//! that an unknown or misspelt parameter is refused as Stripe refuses it.

use serde_json::{Map, Value};

/// What a parameter may hold.
pub(crate) enum Spec {
    /// A plain value.
    Scalar,
    /// Any string keys with plain values (`metadata`).
    FreeMap,
    /// Known keys only.
    Object(&'static [(&'static str, Spec)]),
    /// `name[0]`, `name[1]`, … each of the inner spec.
    List(&'static Spec),
}

/// A malformed or refused parameter: the message and the parameter Stripe names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ParamError {
    pub code: &'static str,
    pub message: String,
    pub param: String,
}

/// Decodes a form body (or query string) into pairs. `+` is a space; `%XX` a byte; invalid UTF-8 is refused.
pub(crate) fn decode_pairs(raw: &[u8]) -> Result<Vec<(String, String)>, ParamError> {
    let mut pairs = Vec::new();
    for part in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &[][..]),
        };
        pairs.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(pairs)
}

fn percent_decode(raw: &[u8]) -> Result<String, ParamError> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = raw.get(i + 1).and_then(|&h| hex(h)).zip(raw.get(i + 2).and_then(|&l| hex(l)));
                match byte {
                    Some((h, l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ParamError {
        code: "parameter_invalid_string",
        message: "Invalid UTF-8 in request parameters.".into(),
        param: String::new(),
    })
}

/// `a[b][0]` → `["a", "b", "0"]`.
fn split_key(key: &str) -> Option<Vec<&str>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut parts = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        parts.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    Some(parts)
}

fn invalid(key: &str) -> ParamError {
    ParamError { code: "parameter_invalid", message: format!("Invalid parameter name: {key}"), param: key.to_owned() }
}

/// The pairs as a tree of JSON objects with string leaves (list indices stay object keys "0", "1", …).
pub(crate) fn tree(pairs: &[(String, String)]) -> Result<Map<String, Value>, ParamError> {
    let mut root = Map::new();
    for (key, value) in pairs {
        let parts = split_key(key).ok_or_else(|| invalid(key))?;
        let (last, path) = parts.split_last().ok_or_else(|| invalid(key))?;
        let mut node = &mut root;
        for part in path {
            let child = node.entry((*part).to_owned()).or_insert_with(|| Value::Object(Map::new()));
            node = child.as_object_mut().ok_or_else(|| invalid(key))?;
        }
        if node.contains_key(*last) {
            // `a=1&a[b]=2`, or the same key twice: Stripe would take one; refusing keeps clients honest.
            return Err(invalid(key));
        }
        node.insert((*last).to_owned(), Value::String(value.clone()));
    }
    Ok(root)
}

/// Refuses a parameter the schema does not know, naming it as Stripe does (`line_items[0][foo]`).
pub(crate) fn check(tree: &Map<String, Value>, schema: &[(&str, Spec)]) -> Result<(), ParamError> {
    check_object(tree, schema, "")
}

fn path_of(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}[{key}]")
    }
}

fn unknown(param: String) -> ParamError {
    ParamError { code: "parameter_unknown", message: format!("Received unknown parameter: {param}"), param }
}

fn wrong_shape(param: String) -> ParamError {
    ParamError {
        code: "parameter_invalid",
        message: format!("Invalid value for {param}: the parameter has the wrong shape."),
        param,
    }
}

fn check_object(tree: &Map<String, Value>, schema: &[(&str, Spec)], prefix: &str) -> Result<(), ParamError> {
    for (key, value) in tree {
        let path = path_of(prefix, key);
        // `expand[]` is accepted everywhere and ignored.
        if key == "expand" {
            continue;
        }
        let spec =
            schema.iter().find(|(name, _)| name == key).map(|(_, spec)| spec).ok_or_else(|| unknown(path.clone()))?;
        check_value(value, spec, &path)?;
    }
    Ok(())
}

fn check_value(value: &Value, spec: &Spec, path: &str) -> Result<(), ParamError> {
    match (spec, value) {
        (Spec::Scalar, Value::String(_)) => Ok(()),
        (Spec::FreeMap, Value::Object(map)) => match map.iter().find(|(_, v)| !v.is_string()) {
            Some((k, _)) => Err(wrong_shape(path_of(path, k))),
            None => Ok(()),
        },
        // `metadata=` (empty) clears metadata in Stripe.
        (Spec::FreeMap, Value::String(s)) if s.is_empty() => Ok(()),
        (Spec::Object(fields), Value::Object(map)) => check_object(map, fields, path),
        (Spec::List(inner), Value::Object(map)) => {
            for (index, item) in map {
                if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(wrong_shape(path_of(path, index)));
                }
                check_value(item, inner, &path_of(path, index))?;
            }
            Ok(())
        }
        _ => Err(wrong_shape(path.to_owned())),
    }
}

/// The string at `path` in the tree.
pub(crate) fn get<'a>(tree: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, init) = path.split_last()?;
    let mut node = tree;
    for part in init {
        node = node.get(*part)?.as_object()?;
    }
    node.get(*last)?.as_str()
}

/// The object at `path` as string pairs (metadata), empty when absent.
pub(crate) fn string_map(tree: &Map<String, Value>, key: &str) -> Map<String, Value> {
    match tree.get(key) {
        Some(Value::Object(map)) => {
            map.iter().filter(|(_, v)| v.is_string()).map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        _ => Map::new(),
    }
}

/// The list items at `key` in index order.
pub(crate) fn list<'a>(tree: &'a Map<String, Value>, key: &str) -> Vec<&'a Map<String, Value>> {
    let Some(Value::Object(items)) = tree.get(key) else {
        return Vec::new();
    };
    let mut indexed: Vec<(u64, &Map<String, Value>)> =
        items.iter().filter_map(|(i, v)| Some((i.parse().ok()?, v.as_object()?))).collect();
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const ITEM: Spec =
        Spec::Object(&[("quantity", Spec::Scalar), ("price_data", Spec::Object(&[("currency", Spec::Scalar)]))]);
    const SCHEMA: &[(&str, Spec)] =
        &[("mode", Spec::Scalar), ("metadata", Spec::FreeMap), ("line_items", Spec::List(&ITEM))];

    fn parse(raw: &str) -> Result<Map<String, Value>, ParamError> {
        tree(&decode_pairs(raw.as_bytes())?)
    }

    #[test]
    fn bracketed_keys_build_a_tree() {
        let t = parse("mode=payment&metadata%5Binvoice_id%5D=inv+7&line_items[0][price_data][currency]=usd&line_items[0][quantity]=1&x=%C3%AB%").unwrap();
        assert_eq!(
            Value::Object(t.clone()),
            json!({"mode": "payment", "metadata": {"invoice_id": "inv 7"}, "x": "ë%",
                   "line_items": {"0": {"price_data": {"currency": "usd"}, "quantity": "1"}}})
        );
        assert_eq!(get(&t, &["line_items", "0", "price_data", "currency"]), Some("usd"));
        assert_eq!(list(&t, "line_items").len(), 1);
        assert_eq!(string_map(&t, "metadata").len(), 1);
    }

    #[test]
    fn unknown_and_misshapen_parameters_are_refused_by_name() {
        let t = parse("mode=payment&line_items[0][price_data][curency]=usd").unwrap();
        let err = check(&t, SCHEMA).unwrap_err();
        assert_eq!((err.code, err.param.as_str()), ("parameter_unknown", "line_items[0][price_data][curency]"));
        assert_eq!(check(&parse("mode[x]=1").unwrap(), SCHEMA).unwrap_err().param, "mode");
        assert_eq!(check(&parse("line_items[a][quantity]=1").unwrap(), SCHEMA).unwrap_err().param, "line_items[a]");
        assert!(check(&parse("metadata=&expand[0]=customer").unwrap(), SCHEMA).is_ok());
        assert!(parse("a=1&a[b]=2").is_err());
        assert!(parse("a=1&a=2").is_err());
        assert!(parse("[x]=1").is_err());
        assert!(parse("a[b=1").is_err());
        assert!(decode_pairs(b"a=%FF").is_err());
    }
}
