//! The table of calls that take a file path: which argument holds the path, what the call does
//! with it, and which library (de)serializes the file.
//!
//! Adding a library means adding a row here; the walk over the cell lives in `paths`.

use super::{PathAccess, Serializer};

use PathAccess::{Load, Read, Save, Write};
use Serializer::{Joblib, Keras, Numpy, Other, Pandas, Pickle, Torch};

/// How a recognised call takes its path and the object it saves.
pub(crate) struct Rule {
    /// Dotted callee after alias resolution (`*` matches one component), or a method name.
    pub(crate) name: &'static str,
    pub(crate) access: PathAccess,
    pub(crate) serializer: Serializer,
    /// Positional index of the path (or file object) argument.
    pub(crate) path_index: usize,
    /// Keyword names that may carry the path instead.
    pub(crate) path_keywords: &'static [&'static str],
    /// Where the written object is, for `Save` and `Write`.
    pub(crate) object: Object,
    /// `name` has a `*` component.
    wildcard: bool,
}

impl Rule {
    /// Whether the dotted callee `name` is this rule's: every call of every cell is tried
    /// against each rule, and all but two are one comparison.
    pub(crate) fn matches(&self, name: &str) -> bool {
        if self.wildcard {
            matches(self.name, name)
        } else {
            self.name == name
        }
    }
}

/// Whether `name` has a `*`, at compile time.
const fn has_wildcard(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'*' {
            return true;
        }
        at += 1;
    }
    false
}

/// Where a save call finds the object it writes.
#[derive(Clone, Copy)]
pub(crate) enum Object {
    /// The call writes no single object (or it is not worth naming).
    None,
    /// A positional index or one of the keywords.
    Argument(usize, &'static [&'static str]),
    /// The method's receiver.
    Receiver,
}

const fn rule(
    name: &'static str,
    access: PathAccess,
    serializer: Serializer,
    path: (usize, &'static [&'static str]),
    object: Object,
) -> Rule {
    Rule {
        name,
        access,
        serializer,
        path_index: path.0,
        path_keywords: path.1,
        object,
        wildcard: has_wildcard(name),
    }
}

const PANDAS_PATH: (usize, &[&str]) = (0, &["filepath_or_buffer", "path_or_buf", "path", "io"]);
const NUMPY_PATH: (usize, &[&str]) = (0, &["file", "fname"]);
const KERAS_LOAD_PATH: (usize, &[&str]) = (0, &["filepath", "export_dir"]);
const KERAS_SAVE_PATH: (usize, &[&str]) = (1, &["filepath", "export_dir"]);
const SAVED_OBJECT: Object = Object::Argument(0, &["value", "obj", "model"]);

/// Module functions, by dotted name after alias resolution. `tensorflow.keras.*` is matched
/// as `keras.*`. pycaret appends `.pkl` to the name it is given; the literal is reported as is.
#[rustfmt::skip]
pub(crate) const MODULE_RULES: &[Rule] = &[
    rule("joblib.dump", Save, Joblib, (1, &["filename"]), SAVED_OBJECT),
    rule("joblib.load", Load, Joblib, (0, &["filename"]), Object::None),
    rule("pickle.dump", Save, Pickle, (1, &["file"]), SAVED_OBJECT),
    rule("pickle.load", Load, Pickle, (0, &["file"]), Object::None),
    rule("cloudpickle.dump", Save, Pickle, (1, &["file"]), SAVED_OBJECT),
    rule("cloudpickle.load", Load, Pickle, (0, &["file"]), Object::None),
    rule("dill.dump", Save, Pickle, (1, &["file"]), SAVED_OBJECT),
    rule("dill.load", Load, Pickle, (0, &["file"]), Object::None),
    rule("pandas.read_pickle", Load, Pandas, PANDAS_PATH, Object::None),
    rule("pandas.to_pickle", Save, Pandas, (1, &["filepath_or_buffer", "path"]), SAVED_OBJECT),
    rule("pandas.read_csv", Read, Pandas, PANDAS_PATH, Object::None),
    rule("pandas.read_table", Read, Pandas, PANDAS_PATH, Object::None),
    rule("pandas.read_parquet", Read, Pandas, PANDAS_PATH, Object::None),
    rule("pandas.read_excel", Read, Pandas, PANDAS_PATH, Object::None),
    rule("pandas.read_json", Read, Pandas, PANDAS_PATH, Object::None),
    rule("pandas.read_feather", Read, Pandas, PANDAS_PATH, Object::None),
    rule("numpy.load", Read, Numpy, NUMPY_PATH, Object::None),
    rule("numpy.loadtxt", Read, Numpy, NUMPY_PATH, Object::None),
    rule("numpy.genfromtxt", Read, Numpy, NUMPY_PATH, Object::None),
    rule("numpy.save", Write, Numpy, NUMPY_PATH, Object::Argument(1, &["arr", "X"])),
    rule("numpy.savetxt", Write, Numpy, NUMPY_PATH, Object::Argument(1, &["arr", "X"])),
    rule("numpy.savez", Write, Numpy, NUMPY_PATH, Object::None),
    rule("numpy.savez_compressed", Write, Numpy, NUMPY_PATH, Object::None),
    rule("keras.models.load_model", Load, Keras, KERAS_LOAD_PATH, Object::None),
    rule("keras.saving.load_model", Load, Keras, KERAS_LOAD_PATH, Object::None),
    rule("tensorflow.saved_model.load", Load, Keras, KERAS_LOAD_PATH, Object::None),
    rule("keras.models.save_model", Save, Keras, KERAS_SAVE_PATH, SAVED_OBJECT),
    rule("keras.saving.save_model", Save, Keras, KERAS_SAVE_PATH, SAVED_OBJECT),
    rule("tensorflow.saved_model.save", Save, Keras, KERAS_SAVE_PATH, SAVED_OBJECT),
    rule("torch.save", Save, Torch, (1, &["f"]), SAVED_OBJECT),
    rule("torch.load", Load, Torch, (0, &["f"]), Object::None),
    rule("pycaret.*.save_model", Save, Other, (1, &["model_name"]), SAVED_OBJECT),
    rule("pycaret.*.load_model", Load, Other, (0, &["model_name"]), Object::None),
    // Folders the notebook creates for what it saves: they belong where the saved files go.
    rule("os.makedirs", Write, Other, (0, &["name"]), Object::None),
    rule("os.mkdir", Write, Other, (0, &["path"]), Object::None),
];

/// Methods on any receiver that is not a known module. `.save` is Keras when the path ends in
/// `.keras`, `.h5`, `.hdf5` or has no extension (a SavedModel folder), otherwise `Other`;
/// `save_model`/`load_model` are xgboost/lightgbm/catboost/mlflow style.
#[rustfmt::skip]
pub(crate) const METHOD_RULES: &[Rule] = &[
    rule("to_pickle", Save, Pandas, (0, &["path"]), Object::Receiver),
    rule("to_csv", Write, Pandas, (0, &["path_or_buf"]), Object::Receiver),
    rule("to_parquet", Write, Pandas, (0, &["path"]), Object::Receiver),
    rule("to_json", Write, Pandas, (0, &["path_or_buf"]), Object::Receiver),
    rule("to_excel", Write, Pandas, (0, &["excel_writer"]), Object::Receiver),
    rule("to_feather", Write, Pandas, (0, &["path"]), Object::Receiver),
    rule("save", Save, Keras, (0, &["filepath"]), Object::Receiver),
    rule("save_weights", Save, Keras, (0, &["filepath"]), Object::Receiver),
    rule("load_weights", Load, Keras, (0, &["filepath"]), Object::None),
    rule("save_model", Save, Other, (0, &["fname", "filepath"]), Object::Receiver),
    rule("load_model", Load, Other, (0, &["fname", "filepath", "model_uri"]), Object::None),
];

/// Conventional aliases assumed when the cell does not import the name itself, since the
/// import usually lives in an earlier cell.
pub(crate) const DEFAULT_ALIASES: &[(&str, &str)] = &[
    ("np", "numpy"),
    ("pd", "pandas"),
    ("tf", "tensorflow"),
    ("Path", "pathlib.Path"),
];

/// Whether `name` matches `pattern`, where a `*` component matches any one component.
fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = name.split('.');
    pattern.split('.').all(|expected| {
        parts
            .next()
            .is_some_and(|part| expected == "*" || expected == part)
    }) && parts.next().is_none()
}

/// The serializer of a `.save(path)` call, guessed from the path's extension.
pub(crate) fn keras_or_other(path: &str) -> Serializer {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        None => Keras,
        Some((_, extension)) => match extension.to_ascii_lowercase().as_str() {
            "keras" | "h5" | "hdf5" | "tf" => Keras,
            _ => Other,
        },
    }
}
