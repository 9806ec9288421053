//! Why a notebook could not be read: the error type, and how a serde_json failure becomes
//! one (with a hint when the bytes show a likely cause, such as merge-conflict markers).

use std::fmt;

/// Why a notebook could not be read, or is not one nb2svc can convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotebookError {
    /// The bytes are not JSON. `line` and `column` are 1-based, as serde_json reports them.
    InvalidJson {
        /// The line where parsing stopped.
        line: usize,
        /// The column where parsing stopped.
        column: usize,
        /// What the JSON reader expected there.
        message: String,
        /// A likely cause worth telling the user (merge-conflict markers, UTF-16, empty file).
        hint: Option<String>,
    },
    /// Valid JSON that does not match the notebook schema; the text names the cell when the
    /// problem is inside one.
    Schema(String),
    /// An `nbformat` other than 3 or 4.
    UnsupportedVersion(u64),
    /// The kernel is not a Python kernel.
    NotPython {
        /// The language the notebook declares (or the one its kernel is known for).
        language: String,
        /// The kernel name, when the notebook has one.
        kernel: Option<String>,
    },
}

impl fmt::Display for NotebookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotebookError::InvalidJson {
                line,
                column,
                message,
                hint,
            } => {
                write!(
                    f,
                    "not a valid JSON notebook: {message} at line {line}, column {column}"
                )?;
                match hint {
                    Some(hint) => write!(f, "; {hint}"),
                    None => Ok(()),
                }
            }
            NotebookError::Schema(detail) => {
                write!(f, "does not match the notebook schema: {detail}")
            }
            NotebookError::UnsupportedVersion(found) => {
                write!(f, "expected nbformat 3 or 4, found {found}")
            }
            NotebookError::NotPython {
                language,
                kernel: Some(kernel),
            } => write!(
                f,
                "the notebook's kernel is `{kernel}` (language {language}); \
                 expected a Python kernel such as python3"
            ),
            NotebookError::NotPython {
                language,
                kernel: None,
            } => write!(
                f,
                "the notebook's language is {language}; expected a Python notebook"
            ),
        }
    }
}

impl std::error::Error for NotebookError {}

/// Turns a serde_json failure into [`NotebookError`]: syntax errors become `InvalidJson` with a
/// hint when the bytes show a likely cause; a duplicated key is a schema error.
pub(super) fn from_json(bytes: &[u8], err: &serde_json::Error) -> NotebookError {
    let (line, column) = (err.line(), err.column());
    let full = err.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    if err.is_data() {
        return NotebookError::Schema(format!("{message} (line {line}, column {column})"));
    }
    let hint = if let Some(marker_line) = merge_conflict_line(bytes) {
        Some(format!(
            "the file contains git merge-conflict markers (line {marker_line}); resolve the conflict first"
        ))
    } else if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        Some("the file is UTF-16 encoded; save it as UTF-8".to_owned())
    } else if bytes.iter().all(u8::is_ascii_whitespace) {
        Some("the file is empty".to_owned())
    } else {
        None
    };
    NotebookError::InvalidJson {
        line,
        column,
        message,
        hint,
    }
}

/// The 1-based line of the first git merge-conflict marker, if any.
fn merge_conflict_line(bytes: &[u8]) -> Option<usize> {
    bytes
        .split(|&byte| byte == b'\n')
        .position(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let marker_then_space = |marker: &[u8]| {
                line.strip_prefix(marker)
                    .is_some_and(|rest| rest.is_empty() || rest[0] == b' ')
            };
            marker_then_space(b"<<<<<<<")
                || marker_then_space(b">>>>>>>")
                || line.starts_with(b"=======")
        })
        .map(|index| index + 1)
}
