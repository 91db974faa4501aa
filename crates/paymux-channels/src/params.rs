//! The flat name → value map every channel here signs over: WeChat v2 XML children, Alipay and
//! UnionPay form fields. A `BTreeMap` keeps the keys in byte order, which is exactly the "sort by
//! parameter name in ASCII order" every signature recipe starts with.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::collections::btree_map;

/// Flat string parameters, sorted by name (byte order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// Builder-style insert, for literals in adapters and tests.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// Sets `name`, returning the previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(name.into(), value.into())
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `name`, which must be present and non-empty.
    pub fn require(&self, name: &str) -> Result<&str> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Error::MissingField(name.to_owned())),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Name/value pairs in byte order of the names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}

impl From<BTreeMap<String, String>> for Params {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Params {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.0
            .extend(iter.into_iter().map(|(k, v)| (k.into(), v.into())));
    }
}

impl IntoIterator for Params {
    type Item = (String, String);
    type IntoIter = btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Params {
    type Item = (&'a String, &'a String);
    type IntoIter = btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_in_byte_order() {
        // Byte order puts upper case before lower case and `_` between them.
        let params: Params = [("b", "2"), ("a_b", "3"), ("B", "1"), ("a", "0")]
            .into_iter()
            .collect();
        let names: Vec<&str> = params.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["B", "a", "a_b", "b"]);
    }

    #[test]
    fn require_rejects_absent_and_empty() {
        let params = Params::new().with("a", "1").with("b", "");
        assert_eq!(params.require("a"), Ok("1"));
        assert_eq!(params.require("b"), Err(Error::MissingField("b".into())));
        assert_eq!(params.require("c"), Err(Error::MissingField("c".into())));
    }
}
