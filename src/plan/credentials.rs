//! Credentials the notebook wrote into its code: taken out of every file the service ships
//! before anything else reads the code, so no later step (the analysis, the slice that
//! comments statements out, the README's quotes) ever sees the literal.
//!
//! Each literal becomes a read of an environment variable (`os.environ["API_KEY"]`); the
//! plan lists the variables, the README says where each came from, and the compose files
//! take them from a `.env` file that stays out of git and out of the image.

use serde::Serialize;

use crate::diagnostics::{Location, Warning};
use crate::extract::Extraction;
use crate::python::credentials::{self, Credential, Names, Redaction};
use crate::workspace::SourceFiles;

use super::{LocalModule, ModuleOrigin};

/// A credential taken out of the code, by the variable that now holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedCredential {
    pub variable: String,
    /// Where the literal was: "cell 3, line 2", or a shipped module's file and line.
    pub place: String,
    /// How it was written, in Markdown: "assigned to `API_KEY`".
    pub written_as: String,
    /// The service's code reads it back, so the service needs it to run.
    pub read_back: bool,
}

/// Takes the credentials out of the cells and `%%writefile` modules, in place.
pub(super) fn take_out_of_cells(
    extraction: &mut Extraction,
    names: &mut Names,
    warnings: &mut Vec<Warning>,
) -> Vec<PlannedCredential> {
    let mut found = Vec::new();
    for cell in &mut extraction.cells {
        match credentials::redact(&cell.code, names) {
            Ok(Some(Redaction { code, credentials })) => {
                cell.code = code;
                // The code changed: the tree kept from cleaning it no longer fits.
                cell.tree = None;
                found.extend(credentials.into_iter().map(|c| {
                    let line = c.line + cell.line_offset;
                    planned(
                        c,
                        Location {
                            cell: cell.cell.clone(),
                            line,
                        }
                        .to_string(),
                    )
                }));
            }
            Ok(None) => {}
            // Not Python: the cell ships as comments, which must not hold the literal either.
            Err(_) => {
                if let Some(code) = credentials::redact_text(&cell.code) {
                    cell.code = code;
                    cell.tree = None;
                    warnings.push(Warning::general(format!(
                        "{} is not valid Python and has what looks like a credential: it is blanked in the comments the cell becomes; read it from the environment instead",
                        cell.cell
                    )));
                }
            }
        }
    }
    for written in &mut extraction.written_files {
        if !written.path.ends_with(".py") {
            continue;
        }
        if let Ok(Some(Redaction { code, credentials })) =
            credentials::redact(&written.contents, names)
        {
            written.contents = needing_os(code, &credentials);
            found.extend(credentials.into_iter().map(|c| {
                // Line 1 of the contents is the line under the `%%writefile` magic.
                let line = written.location.line + c.line;
                let place = Location {
                    cell: written.location.cell.clone(),
                    line,
                }
                .to_string();
                planned(c, place)
            }));
        }
    }
    // Every literal is known now: the comments of the cells and modules lose them too.
    for cell in &mut extraction.cells {
        if let Some(code) = names.scrub_comments(&cell.code) {
            cell.code = code;
        }
    }
    for written in &mut extraction.written_files {
        if let Some(contents) = names.scrub_comments(&written.contents) {
            written.contents = contents;
        }
    }
    found
}

/// Takes the credentials out of the modules copied from the notebook's folder: a module with
/// one ships as the rewritten text instead of a copy.
pub(super) fn take_out_of_modules(
    modules: &mut [LocalModule],
    files: &dyn SourceFiles,
    names: &mut Names,
) -> Vec<PlannedCredential> {
    let mut found = Vec::new();
    for module in modules {
        let ModuleOrigin::Copied { source } = &module.origin else {
            continue;
        };
        let Some(text) = files.read_text(source) else {
            continue;
        };
        if let Ok(Some(Redaction { code, credentials })) = credentials::redact(&text, names) {
            let source = source.clone();
            // Lines as in the user's own file, which is where they will look.
            found.extend(credentials.iter().cloned().map(|c| {
                let place = format!("`{source}`, line {}", c.line);
                planned(c, place)
            }));
            let code = names.scrub_comments(&code).unwrap_or(code);
            module.origin = ModuleOrigin::Rewritten {
                contents: needing_os(code, &credentials),
                source,
            };
        }
    }
    found
}

fn planned(credential: Credential, place: String) -> PlannedCredential {
    PlannedCredential {
        variable: credential.variable,
        place,
        written_as: credential.written_as,
        read_back: credential.read_back,
    }
}

/// A module that now reads `os.environ` imports `os` (a cell has the import at the top of
/// `notebook.py`).
fn needing_os(code: String, credentials: &[Credential]) -> String {
    if credentials.iter().any(|c| c.read_back) {
        credentials::with_os_import(&code)
    } else {
        code
    }
}

/// One line per variable, the first place it was found: the same literal written twice is
/// one variable.
pub(super) fn by_variable(found: Vec<PlannedCredential>) -> Vec<PlannedCredential> {
    let mut out: Vec<PlannedCredential> = Vec::new();
    for credential in found {
        match out.iter_mut().find(|c| c.variable == credential.variable) {
            Some(known) => known.read_back |= credential.read_back,
            None => out.push(credential),
        }
    }
    out.sort_by(|a, b| a.variable.cmp(&b.variable));
    out
}
