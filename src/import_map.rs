//! Which PyPI distribution provides a Python import, as a maintained table.
//!
//! The notebook says `import sklearn`; pip needs `scikit-learn`. This module answers that
//! question from data only: a table of import names whose distribution is named differently,
//! a list of well-known packages whose import name is also their distribution name, a few
//! distributions that provide the same import as another (`opencv-python` also gives `cv2`),
//! and the Python 3.11 standard library. It never guesses: an import it does not know is
//! [`Distribution::Unknown`], and deciding what to do about that is left to
//! [`crate::requirements`].

/// What the table says about a top-level import name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Part of the Python 3.11 standard library: nothing to install.
    Stdlib,
    /// Provided by this distribution (PyPI spelling; compare with [`normalize`]).
    Known(&'static str),
    /// Several unrelated distributions provide this import; a person has to choose.
    /// A candidate ending in `*` stands for a family, such as `google-cloud-*`.
    Ambiguous(&'static [&'static str]),
    /// Not in the table.
    Unknown,
}

use Distribution::{Ambiguous, Known};

/// Imports whose distribution has a different name, or is ambiguous. Sorted by import name
/// (byte order) for binary search; a unit test keeps it sorted.
#[rustfmt::skip]
static RENAMED: &[(&str, Distribution)] = &[
    ("Bio", Known("biopython")),
    ("Crypto", Known("pycryptodome")),
    ("Cryptodome", Known("pycryptodomex")),
    ("IPython", Known("ipython")),
    ("MySQLdb", Known("mysqlclient")),
    ("OpenSSL", Known("pyOpenSSL")),
    ("PIL", Known("pillow")),
    ("Xlib", Known("python-xlib")),
    ("airflow", Known("apache-airflow")),
    ("apache_beam", Known("apache-beam")),
    ("attr", Known("attrs")),
    ("azure", Ambiguous(&["azure-storage-blob", "azure-identity", "azure-*"])),
    ("bs4", Known("beautifulsoup4")),
    ("bson", Ambiguous(&["pymongo", "bson"])),
    ("cairo", Known("pycairo")),
    ("category_encoders", Known("category-encoders")),
    ("charset_normalizer", Known("charset-normalizer")),
    ("comet_ml", Known("comet-ml")),
    ("cupy", Ambiguous(&["cupy-cuda12x", "cupy-cuda11x", "cupy"])),
    ("cv2", Known("opencv-python-headless")),
    ("cx_Oracle", Known("cx-Oracle")),
    ("dateutil", Known("python-dateutil")),
    ("decouple", Known("python-decouple")),
    ("discord", Known("discord.py")),
    ("dns", Known("dnspython")),
    ("docx", Known("python-docx")),
    ("dotenv", Known("python-dotenv")),
    ("engineio", Known("python-engineio")),
    ("faiss", Known("faiss-cpu")),
    ("fitz", Known("PyMuPDF")),
    ("flask_cors", Known("Flask-Cors")),
    ("flask_restful", Known("Flask-RESTful")),
    ("flask_sqlalchemy", Known("Flask-SQLAlchemy")),
    ("gi", Known("PyGObject")),
    ("git", Known("GitPython")),
    ("github", Known("PyGithub")),
    ("google", Ambiguous(&["protobuf", "google-cloud-*", "google-auth", "google-api-core", "google-generativeai"])),
    ("google_auth_oauthlib", Known("google-auth-oauthlib")),
    ("googleapiclient", Known("google-api-python-client")),
    ("great_expectations", Known("great-expectations")),
    ("gridfs", Known("pymongo")),
    ("grpc", Known("grpcio")),
    ("huggingface_hub", Known("huggingface-hub")),
    ("hydra", Known("hydra-core")),
    ("imblearn", Known("imbalanced-learn")),
    ("jenkins", Known("python-jenkins")),
    ("jose", Ambiguous(&["python-jose", "jose"])),
    ("jwt", Known("PyJWT")),
    ("kafka", Ambiguous(&["kafka-python", "kafka-python-ng"])),
    ("keras_tuner", Known("keras-tuner")),
    ("kerastuner", Known("keras-tuner")),
    ("kernel_gateway", Known("jupyter-kernel-gateway")),
    ("langchain_community", Known("langchain-community")),
    ("langchain_openai", Known("langchain-openai")),
    ("ldap", Known("python-ldap")),
    ("llama_index", Known("llama-index")),
    ("magic", Known("python-magic")),
    ("markdown_it", Known("markdown-it-py")),
    ("memcache", Known("python-memcached")),
    ("ml_metadata", Known("ml-metadata")),
    ("mpl_toolkits", Known("matplotlib")),
    ("multipart", Known("python-multipart")),
    ("mysql", Known("mysql-connector-python")),
    ("nacl", Known("PyNaCl")),
    ("osgeo", Known("GDAL")),
    ("pandas_datareader", Known("pandas-datareader")),
    ("pandas_profiling", Known("pandas-profiling")),
    ("pkg_resources", Known("setuptools")),
    ("pptx", Known("python-pptx")),
    ("psycopg2", Known("psycopg2-binary")),
    ("pydantic_settings", Known("pydantic-settings")),
    ("pyro", Known("pyro-ppl")),
    ("pythoncom", Known("pywin32")),
    ("pytorch_lightning", Known("pytorch-lightning")),
    ("pywintypes", Known("pywin32")),
    ("ruamel", Known("ruamel.yaml")),
    ("sentence_transformers", Known("sentence-transformers")),
    ("serial", Known("pyserial")),
    ("skimage", Known("scikit-image")),
    ("sklearn", Known("scikit-learn")),
    ("sklearn_pandas", Known("sklearn-pandas")),
    ("skopt", Known("scikit-optimize")),
    ("sksurv", Known("scikit-survival")),
    ("slugify", Known("python-slugify")),
    ("snappy", Ambiguous(&["python-snappy", "snappy"])),
    ("snowflake", Ambiguous(&["snowflake-connector-python", "snowflake-snowpark-python"])),
    ("socketio", Known("python-socketio")),
    ("sqlalchemy_utils", Known("SQLAlchemy-Utils")),
    ("stable_baselines3", Known("stable-baselines3")),
    ("telegram", Known("python-telegram-bot")),
    ("tensorflow_addons", Known("tensorflow-addons")),
    ("tensorflow_data_validation", Known("tensorflow-data-validation")),
    ("tensorflow_datasets", Known("tensorflow-datasets")),
    ("tensorflow_estimator", Known("tensorflow-estimator")),
    ("tensorflow_hub", Known("tensorflow-hub")),
    ("tensorflow_io", Known("tensorflow-io")),
    ("tensorflow_model_analysis", Known("tensorflow-model-analysis")),
    ("tensorflow_probability", Known("tensorflow-probability")),
    ("tensorflow_recommenders", Known("tensorflow-recommenders")),
    ("tensorflow_serving", Known("tensorflow-serving-api")),
    ("tensorflow_text", Known("tensorflow-text")),
    ("tensorflow_transform", Known("tensorflow-transform")),
    ("tf_keras", Known("tf-keras")),
    ("tflite_runtime", Known("tflite-runtime")),
    ("tfx_bsl", Known("tfx-bsl")),
    ("torch_geometric", Known("torch-geometric")),
    ("typing_extensions", Known("typing-extensions")),
    ("umap", Known("umap-learn")),
    ("usb", Known("pyusb")),
    ("vertexai", Known("google-cloud-aiplatform")),
    ("win32api", Known("pywin32")),
    ("win32con", Known("pywin32")),
    ("wx", Known("wxPython")),
    ("yaml", Known("PyYAML")),
    ("ydata_profiling", Known("ydata-profiling")),
    ("zmq", Known("pyzmq")),
];

// `cv2` maps to the headless OpenCV build on purpose: a container has no display, and the
// regular `opencv-python` wheel links against libGL/X11 libraries a slim image lacks, so
// `import cv2` fails there. `psycopg2` maps to the binary wheel for the same reason (the
// source package needs libpq headers and a compiler), and `faiss` to the CPU build.

/// Well-known packages imported under their own distribution name. Sorted (byte order).
#[rustfmt::skip]
static IDENTITY: &[&str] = &[
    "Cython", "Levenshtein", "PyPDF2", "PyQt5", "accelerate", "aiohttp", "albumentations", "altair",
    "anthropic", "arch", "arviz", "attrs", "babel", "bcrypt", "bentoml", "bokeh", "boto3",
    "botocore", "catboost", "celery", "certifi", "cffi", "chardet", "chromadb", "click",
    "cloudpickle", "cmdstanpy", "cryptography", "cvxpy", "dagster", "darts", "dash", "dask",
    "datasets", "dateparser", "dgl", "diffusers", "dill", "distributed", "django", "docker",
    "duckdb", "dvc", "einops", "eli5", "emoji", "evaluate", "evidently", "fabric", "fastapi",
    "fastparquet", "fbprophet", "feast", "featuretools", "findspark", "fiona", "flask", "flax",
    "folium", "fuzzywuzzy", "gcsfs", "gensim", "geopandas", "gluonts", "gradio", "graphviz",
    "gunicorn", "gym", "gymnasium", "h5py", "hdbscan", "holoviews", "html5lib", "httpx", "hyperopt",
    "idna", "imageio", "ipykernel", "ipywidgets", "jax", "jaxlib", "jinja2", "joblib", "jsonschema",
    "jupyterlab", "jupytext", "kaggle", "kedro", "keras", "kfp", "kornia", "kubernetes",
    "langchain", "librosa", "lightgbm", "lightning", "lime", "loguru", "lxml", "markdown",
    "marshmallow", "matplotlib", "metaflow", "minio", "missingno", "mlflow", "mlxtend", "moviepy",
    "msgpack", "nbconvert", "nbformat", "neptune", "netCDF4", "networkx", "nltk", "notebook",
    "numba", "numpy", "omegaconf", "onnx", "onnxruntime", "openai", "openpyxl", "optuna",
    "oracledb", "orjson", "ortools", "palmerpenguins", "pandas", "pandera", "panel", "papermill",
    "paramiko", "passlib", "patsy", "peft", "pexpect", "pika", "pip", "plotly", "plotnine",
    "pmdarima", "polars", "prefect", "prophet", "psutil", "pulp", "pyarrow", "pycaret",
    "pycocotools", "pydantic", "pydot", "pydub", "pygments", "pyjanitor", "pymc", "pymc3",
    "pymongo", "pymysql", "pyod", "pyodbc", "pyproj", "pyreadstat", "pyspark", "pystan", "pytest",
    "pytz", "rapidfuzz", "ray", "redis", "requests", "rich", "rpy2", "s3fs", "safetensors",
    "sagemaker", "scipy", "scrapy", "seaborn", "selenium", "sentencepiece", "setuptools", "shap",
    "shapely", "six", "skl2onnx", "sktime", "sounddevice", "soundfile", "spacy", "sqlalchemy",
    "sqlmodel", "starlette", "statsmodels", "streamlit", "sweetviz", "sympy", "ta", "tables",
    "tabulate", "tensorboard", "tensorflow", "textblob", "tfx", "theano", "thefuzz", "tiktoken",
    "timm", "tokenizers", "toml", "tomli", "torch", "torchaudio", "torchmetrics", "torchtext",
    "torchvision", "tqdm", "transformers", "tsfresh", "typer", "tzdata", "ujson", "ultralytics",
    "unidecode", "urllib3", "uvicorn", "wandb", "websockets", "werkzeug", "wheel", "wordcloud",
    "xarray", "xgboost", "xlrd", "xlsxwriter", "yfinance", "zenml",
];

/// Distributions that provide an import although the table maps that import elsewhere:
/// listing any of them satisfies the import. `(distribution, import)`.
#[rustfmt::skip]
static ALSO_PROVIDED_BY: &[(&str, &str)] = &[
    ("opencv-python", "cv2"), ("opencv-contrib-python", "cv2"),
    ("opencv-contrib-python-headless", "cv2"), ("pillow-simd", "PIL"), ("pycrypto", "Crypto"),
    ("psycopg2", "psycopg2"), ("faiss-gpu", "faiss"), ("python-levenshtein", "Levenshtein"),
    ("tensorflow-cpu", "tensorflow"), ("tensorflow-gpu", "tensorflow"),
    ("tensorflow-macos", "tensorflow"), ("tensorflow-intel", "tensorflow"),
    ("mysql-connector", "mysql"), ("sklearn", "sklearn"), ("attrs", "attr"),
    ("pymupdf", "pymupdf"), ("u8darts", "darts"), ("prophet", "prophet"),
];

/// The Python 3.11 standard library, generated with
/// `python3 -c 'import sys;print(sorted(sys.stdlib_module_names))'` on CPython 3.11.7.
/// Sorted (byte order) for binary search.
#[rustfmt::skip]
static STDLIB: &[&str] = &[
    "__future__", "_abc", "_aix_support", "_ast", "_asyncio", "_bisect", "_blake2",
    "_bootsubprocess", "_bz2", "_codecs", "_codecs_cn", "_codecs_hk", "_codecs_iso2022",
    "_codecs_jp", "_codecs_kr", "_codecs_tw", "_collections", "_collections_abc", "_compat_pickle",
    "_compression", "_contextvars", "_crypt", "_csv", "_ctypes", "_curses", "_curses_panel",
    "_datetime", "_dbm", "_decimal", "_elementtree", "_frozen_importlib",
    "_frozen_importlib_external", "_functools", "_gdbm", "_hashlib", "_heapq", "_imp", "_io",
    "_json", "_locale", "_lsprof", "_lzma", "_markupbase", "_md5", "_msi", "_multibytecodec",
    "_multiprocessing", "_opcode", "_operator", "_osx_support", "_overlapped", "_pickle",
    "_posixshmem", "_posixsubprocess", "_py_abc", "_pydecimal", "_pyio", "_queue", "_random",
    "_scproxy", "_sha1", "_sha256", "_sha3", "_sha512", "_signal", "_sitebuiltins", "_socket",
    "_sqlite3", "_sre", "_ssl", "_stat", "_statistics", "_string", "_strptime", "_struct",
    "_symtable", "_thread", "_threading_local", "_tkinter", "_tokenize", "_tracemalloc", "_typing",
    "_uuid", "_warnings", "_weakref", "_weakrefset", "_winapi", "_zoneinfo", "abc", "aifc",
    "antigravity", "argparse", "array", "ast", "asynchat", "asyncio", "asyncore", "atexit",
    "audioop", "base64", "bdb", "binascii", "bisect", "builtins", "bz2", "cProfile", "calendar",
    "cgi", "cgitb", "chunk", "cmath", "cmd", "code", "codecs", "codeop", "collections", "colorsys",
    "compileall", "concurrent", "configparser", "contextlib", "contextvars", "copy", "copyreg",
    "crypt", "csv", "ctypes", "curses", "dataclasses", "datetime", "dbm", "decimal", "difflib",
    "dis", "distutils", "doctest", "email", "encodings", "ensurepip", "enum", "errno",
    "faulthandler", "fcntl", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools",
    "gc", "genericpath", "getopt", "getpass", "gettext", "glob", "graphlib", "grp", "gzip",
    "hashlib", "heapq", "hmac", "html", "http", "idlelib", "imaplib", "imghdr", "imp", "importlib",
    "inspect", "io", "ipaddress", "itertools", "json", "keyword", "lib2to3", "linecache", "locale",
    "logging", "lzma", "mailbox", "mailcap", "marshal", "math", "mimetypes", "mmap", "modulefinder",
    "msilib", "msvcrt", "multiprocessing", "netrc", "nis", "nntplib", "nt", "ntpath", "nturl2path",
    "numbers", "opcode", "operator", "optparse", "os", "ossaudiodev", "pathlib", "pdb", "pickle",
    "pickletools", "pipes", "pkgutil", "platform", "plistlib", "poplib", "posix", "posixpath",
    "pprint", "profile", "pstats", "pty", "pwd", "py_compile", "pyclbr", "pydoc", "pydoc_data",
    "pyexpat", "queue", "quopri", "random", "re", "readline", "reprlib", "resource", "rlcompleter",
    "runpy", "sched", "secrets", "select", "selectors", "shelve", "shlex", "shutil", "signal",
    "site", "smtpd", "smtplib", "sndhdr", "socket", "socketserver", "spwd", "sqlite3",
    "sre_compile", "sre_constants", "sre_parse", "ssl", "stat", "statistics", "string",
    "stringprep", "struct", "subprocess", "sunau", "symtable", "sys", "sysconfig", "syslog",
    "tabnanny", "tarfile", "telnetlib", "tempfile", "termios", "textwrap", "this", "threading",
    "time", "timeit", "tkinter", "token", "tokenize", "tomllib", "trace", "traceback",
    "tracemalloc", "tty", "turtle", "turtledemo", "types", "typing", "unicodedata", "unittest",
    "urllib", "uu", "uuid", "venv", "warnings", "wave", "weakref", "webbrowser", "winreg",
    "winsound", "wsgiref", "xdrlib", "xml", "xmlrpc", "zipapp", "zipfile", "zipimport", "zlib",
    "zoneinfo",
];

/// Looks up the distribution that provides `top_level_import` (`sklearn`, `cv2`, `google`).
///
/// A dotted name is accepted: the table is consulted for the full name first (none are
/// listed today) and then for its first segment, so `google.protobuf` is as ambiguous as
/// `google`.
pub fn distribution_for(top_level_import: &str) -> Distribution {
    let name = top_level_import.trim();
    let top = name.split('.').next().unwrap_or(name);
    if STDLIB.binary_search(&top).is_ok() {
        return Distribution::Stdlib;
    }
    for key in [name, top] {
        if let Ok(index) = RENAMED.binary_search_by(|(import, _)| (*import).cmp(key)) {
            return RENAMED[index].1;
        }
        if let Ok(index) = IDENTITY.binary_search(&key) {
            return Known(IDENTITY[index]);
        }
    }
    Distribution::Unknown
}

/// Returns the import names a distribution provides, according to the table; empty if the
/// distribution is not in it. `distribution` may be spelled any way pip accepts
/// (`Scikit_Learn`); an ambiguous import is included when the distribution is one of its
/// candidates (`protobuf` gives `google`).
pub fn import_names_for(distribution: &str) -> Vec<&'static str> {
    let wanted = normalize(distribution);
    let mut names: Vec<&'static str> = Vec::new();
    for (import, dist) in RENAMED {
        let provides = match dist {
            Known(known) => normalize(known) == wanted,
            Ambiguous(candidates) => candidates.iter().any(|c| candidate_matches(c, &wanted)),
            Distribution::Stdlib | Distribution::Unknown => false,
        };
        if provides {
            names.push(import);
        }
    }
    names.extend(IDENTITY.iter().filter(|import| normalize(import) == wanted));
    names.extend(
        ALSO_PROVIDED_BY
            .iter()
            .filter(|(dist, _)| normalize(dist) == wanted)
            .map(|(_, import)| *import),
    );
    names.sort_unstable();
    names.dedup();
    names
}

/// True when an [`Distribution::Ambiguous`] candidate (possibly a `family-*` pattern)
/// names the distribution `normalized_dist`, which must already be [`normalize`]d.
pub fn candidate_matches(candidate: &str, normalized_dist: &str) -> bool {
    match candidate.strip_suffix('*') {
        Some(prefix) => normalized_dist.starts_with(&normalize(prefix)),
        None => normalize(candidate) == normalized_dist,
    }
}

/// Normalizes a distribution name as PEP 503 does: lowercase, and every run of `-`, `_`
/// and `.` becomes a single `-` (`Flask_Cors` and `flask.cors` are both `flask-cors`).
pub fn normalize(dist: &str) -> String {
    let mut out = String::with_capacity(dist.len());
    let mut in_separator_run = false;
    for c in dist.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                out.push('-');
            }
            in_separator_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_separator_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_without_duplicates() {
        assert!(RENAMED.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(IDENTITY.windows(2).all(|w| w[0] < w[1]));
        assert!(STDLIB.windows(2).all(|w| w[0] < w[1]));
        for name in IDENTITY {
            assert!(
                RENAMED.binary_search_by(|(i, _)| i.cmp(name)).is_err(),
                "{name} twice"
            );
            assert!(STDLIB.binary_search(name).is_err(), "{name} is stdlib");
        }
        assert!(RENAMED.len() + IDENTITY.len() >= 150);
    }

    #[test]
    fn maps_sklearn_to_scikit_learn() {
        assert_eq!(distribution_for("sklearn"), Known("scikit-learn"));
    }

    #[test]
    fn maps_renamed_imports() {
        let cases = [
            ("cv2", "opencv-python-headless"),
            ("PIL", "pillow"),
            ("yaml", "PyYAML"),
            ("bs4", "beautifulsoup4"),
            ("skimage", "scikit-image"),
            ("dateutil", "python-dateutil"),
            ("dotenv", "python-dotenv"),
            ("attr", "attrs"),
            ("Crypto", "pycryptodome"),
            ("jwt", "PyJWT"),
            ("magic", "python-magic"),
            ("serial", "pyserial"),
            ("tensorflow_data_validation", "tensorflow-data-validation"),
            ("ml_metadata", "ml-metadata"),
            ("keras_tuner", "keras-tuner"),
            ("tensorflow_transform", "tensorflow-transform"),
        ];
        for (import, dist) in cases {
            assert_eq!(distribution_for(import), Known(dist), "{import}");
        }
    }

    #[test]
    fn knows_identity_packages() {
        for name in [
            "numpy",
            "pandas",
            "xgboost",
            "tfx",
            "palmerpenguins",
            "fastapi",
            "torch",
        ] {
            assert_eq!(distribution_for(name), Known(name));
        }
        assert_eq!(
            distribution_for("surely_not_a_real_package"),
            Distribution::Unknown
        );
    }

    #[test]
    fn detects_stdlib_modules() {
        for name in ["os", "json", "sqlite3", "tomllib", "os.path", "__future__"] {
            assert_eq!(distribution_for(name), Distribution::Stdlib, "{name}");
        }
        assert_ne!(distribution_for("distutils2"), Distribution::Stdlib);
    }

    #[test]
    fn reports_ambiguous_imports() {
        let Ambiguous(candidates) = distribution_for("google.protobuf") else {
            panic!("google should be ambiguous");
        };
        assert!(candidates.contains(&"protobuf"));
        for name in ["jose", "kafka", "snappy"] {
            assert!(
                matches!(distribution_for(name), Ambiguous(c) if c.len() > 1),
                "{name}"
            );
        }
    }

    #[test]
    fn normalizes_like_pep_503() {
        assert_eq!(normalize("Scikit_Learn"), "scikit-learn");
        assert_eq!(normalize("ruamel.yaml"), "ruamel-yaml");
        assert_eq!(normalize("a-_.b"), "a-b");
        assert_eq!(normalize(" PyYAML "), "pyyaml");
    }

    #[test]
    fn looks_up_imports_of_a_distribution() {
        assert_eq!(import_names_for("Scikit_Learn"), vec!["sklearn"]);
        assert_eq!(import_names_for("opencv-python"), vec!["cv2"]);
        assert_eq!(import_names_for("opencv-python-headless"), vec!["cv2"]);
        assert_eq!(
            import_names_for("keras-tuner"),
            vec!["keras_tuner", "kerastuner"]
        );
        assert_eq!(import_names_for("attrs"), vec!["attr", "attrs"]);
        assert_eq!(import_names_for("numpy"), vec!["numpy"]);
        assert_eq!(import_names_for("google-cloud-storage"), vec!["google"]);
        assert!(import_names_for("protobuf").contains(&"google"));
        assert!(import_names_for("not-in-the-table").is_empty());
    }
}
