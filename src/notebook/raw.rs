//! The notebook as it comes off the disk, read leniently in one pass.
//!
//! Every field the model needs is wrapped in [`Loose`], whose visitor accepts any JSON value and
//! remembers what it found when the value has the wrong shape. So the JSON reader only fails on
//! text that is not JSON, and [`super::parse`] can look at `nbformat` before judging the cells
//! (a v3 file is then reported as v3 even if its cells would not fit the v4 schema). Fields the
//! model never uses (`outputs`, `prompt_number`, `execution_count`, `attachments`, widget state
//! in the metadata…) are skipped by serde's derive through `serde::de::IgnoredAny`, which walks
//! over them without allocating, so memory stays at the file bytes plus the cell sources.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A JSON value read without failing: absent, of the expected shape, or something else (named
/// for the error message: "a number", "an object"…).
#[derive(Debug, Default)]
pub(super) enum Loose<T> {
    #[default]
    Missing,
    Ok(T),
    Wrong(&'static str),
}

impl<T> Loose<T> {
    /// The value when it has the expected shape; absent and wrongly shaped values give `None`.
    pub(super) fn ok(self) -> Option<T> {
        match self {
            Loose::Ok(value) => Some(value),
            Loose::Missing | Loose::Wrong(_) => None,
        }
    }
}

/// The shapes a type accepts. Each method gets one kind of JSON value and answers `None` (or
/// drains the container) when that kind is not acceptable; the defaults accept nothing.
pub(super) trait Accept: Sized {
    fn string(_text: &str) -> Option<Self> {
        None
    }

    fn unsigned(_number: u64) -> Option<Self> {
        None
    }

    fn list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Loose<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Wrong("a list"))
    }

    fn object<'de, A: MapAccess<'de>>(mut map: A) -> Result<Loose<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Wrong("an object"))
    }
}

impl<'de, T: Accept> Deserialize<'de> for Loose<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor(PhantomData))
    }
}

struct LooseVisitor<T>(PhantomData<T>);

impl<'de, T: Accept> Visitor<'de> for LooseVisitor<T> {
    type Value = Loose<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Wrong("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        match u64::try_from(number) {
            Ok(number) => self.visit_u64(number),
            Err(_) => Ok(Loose::Wrong("a negative number")),
        }
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok(T::unsigned(number).map_or(Loose::Wrong("a number"), Loose::Ok))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Loose::Wrong("a fractional number"))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(T::string(text).map_or(Loose::Wrong("a string"), Loose::Ok))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Wrong("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::list(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::object(map)
    }
}

impl Accept for String {
    fn string(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

impl Accept for u64 {
    fn unsigned(number: u64) -> Option<Self> {
        Some(number)
    }
}

/// A multi-line string as nbformat stores it: one string, or a list of strings to concatenate.
/// The list is joined while it is read, so its pieces are never held twice.
#[derive(Debug)]
pub(super) struct Text(pub(super) String);

impl Accept for Text {
    fn string(text: &str) -> Option<Self> {
        Some(Text(text.to_owned()))
    }

    fn list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Loose<Self>, A::Error> {
        let mut joined = String::new();
        let mut wrong = None;
        while let Some(piece) = seq.next_element::<Loose<String>>()? {
            match piece {
                Loose::Ok(piece) if wrong.is_none() => joined.push_str(&piece),
                Loose::Ok(_) | Loose::Missing => {}
                Loose::Wrong(_) => wrong = Some("a list holding something other than strings"),
            }
        }
        Ok(wrong.map_or(Loose::Ok(Text(joined)), Loose::Wrong))
    }
}

/// A list of strings (cell tags).
impl Accept for Vec<String> {
    fn list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Loose<Self>, A::Error> {
        let mut items = Vec::new();
        let mut wrong = None;
        while let Some(item) = seq.next_element::<Loose<String>>()? {
            match item {
                Loose::Ok(item) => items.push(item),
                Loose::Missing => {}
                Loose::Wrong(_) => wrong = Some("a list holding something other than strings"),
            }
        }
        Ok(wrong.map_or(Loose::Ok(items), Loose::Wrong))
    }
}

/// A JSON list whose elements are themselves read leniently.
#[derive(Debug)]
pub(super) struct List<T>(pub(super) Vec<Loose<T>>);

impl<T: Accept> Accept for List<T> {
    fn list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Loose<Self>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Loose<T>>()? {
            items.push(item);
        }
        Ok(Loose::Ok(List(items)))
    }
}

/// Accepts a JSON object for a struct whose fields are all [`Loose`] (so its derived visitor
/// only fails on a duplicated key); anything else is `Wrong`.
macro_rules! accept_object {
    ($($name:ty),*) => {$(
        impl Accept for $name {
            fn object<'de, A: MapAccess<'de>>(map: A) -> Result<Loose<Self>, A::Error> {
                <$name>::deserialize(de::value::MapAccessDeserializer::new(map)).map(Loose::Ok)
            }
        }
    )*};
}

accept_object!(
    RawNotebook,
    RawMetadata,
    Kernelspec,
    LanguageInfo,
    RawWorksheet,
    RawCell,
    CellMetadata
);

/// The top level of an nbformat 3 or 4 file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct RawNotebook {
    pub(super) nbformat: Loose<u64>,
    pub(super) nbformat_minor: Loose<u64>,
    pub(super) metadata: Loose<RawMetadata>,
    /// nbformat 4.
    pub(super) cells: Loose<List<RawCell>>,
    /// nbformat 3 (and 2): the cells live in worksheets.
    pub(super) worksheets: Loose<List<RawWorksheet>>,
}

/// Notebook metadata: only what tells the language and its version apart.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct RawMetadata {
    pub(super) kernelspec: Loose<Kernelspec>,
    pub(super) language_info: Loose<LanguageInfo>,
    /// Some nbformat 3 files name the language here.
    pub(super) language: Loose<String>,
}

/// `metadata.kernelspec`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct Kernelspec {
    pub(super) name: Loose<String>,
    pub(super) language: Loose<String>,
}

/// `metadata.language_info`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct LanguageInfo {
    pub(super) name: Loose<String>,
    /// The kernel's language version when the notebook was saved (`3.10.12` for Python).
    pub(super) version: Loose<String>,
}

/// An nbformat 3 worksheet.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct RawWorksheet {
    pub(super) cells: Loose<List<RawCell>>,
}

/// A cell of either version; which fields must be there is decided once the version is known.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct RawCell {
    pub(super) cell_type: Loose<String>,
    /// nbformat 4.5.
    pub(super) id: Loose<String>,
    /// Every v4 cell, and v3 markdown, raw and heading cells.
    pub(super) source: Loose<Text>,
    /// v3 code cells.
    pub(super) input: Loose<Text>,
    pub(super) metadata: Loose<CellMetadata>,
    /// v3 code cells name their language.
    pub(super) language: Loose<String>,
}

/// Cell metadata: only the tags.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct CellMetadata {
    pub(super) tags: Loose<Vec<String>>,
}
