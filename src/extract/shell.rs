//! A shell command line cut into simple commands, for the few commands the service can redo.
//!
//! Only what a translation can get right is accepted: words (split by `shlex`), commands
//! joined by `&&` or `;`, a `# comment`, and one `> FILE` per command. Anything else a shell
//! would give meaning to (pipes, `&`, subshells, substitutions, globs, other redirections) makes
//! the whole line unreadable here, so the caller keeps it as a dropped command.

/// One command of a line: its words, and the file its standard output goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SimpleCommand {
    pub words: Vec<String>,
    pub stdout: Option<String>,
}

/// Splits `line` into its simple commands, or `None` when it uses a shell feature beyond
/// words, `&&`, `;`, comments and `> FILE`.
pub(super) fn simple_commands(line: &str) -> Option<Vec<SimpleCommand>> {
    // IPython substitutes `$name` and `{expr}` into the line before the shell sees it, even
    // inside shell quotes, so the text is not what runs.
    if line.contains(['$', '{', '}']) {
        return None;
    }
    // A backslash-newline continues the line for IPython and the shell alike.
    let line = line.replace("\\\r\n", " ").replace("\\\n", " ");
    let mut commands = Vec::new();
    let mut current = Pieces::default();
    let mut quote: Option<char> = None;
    let mut last_separator = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), _) if c == q => {
                quote = None;
                current.push(c);
            }
            // Backquotes substitute a command even between double quotes.
            (Some('"'), '`') => return None,
            (Some('"'), '\\') | (None, '\\') => {
                current.push(c);
                current.push(chars.next()?);
            }
            (Some(_), _) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (None, ';') => {
                commands.push(current.finish()?);
                last_separator = Some(';');
            }
            (None, '&') if chars.peek() == Some(&'&') => {
                chars.next();
                commands.push(current.finish()?);
                last_separator = Some('&');
            }
            (None, '#') if current.at_word_start() => break,
            // `~/data` is the home folder to the shell, a folder named `~` to Python.
            (None, '~') if current.at_word_start() => return None,
            (None, '>') => current.redirect()?,
            (None, '&' | '|' | '<' | '(' | ')' | '`' | '*') => return None,
            (None, _) => current.push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    let blank = current.words.trim().is_empty() && current.stdout.is_none();
    match current.finish() {
        Some(command) => commands.push(command),
        // A trailing `;` leaves an empty last command, which the shell accepts.
        None if blank && last_separator == Some(';') => {}
        None => return None,
    }
    Some(commands)
}

/// The text of the command being read, before and after its `>`.
#[derive(Default)]
struct Pieces {
    words: String,
    stdout: Option<String>,
}

impl Pieces {
    fn push(&mut self, c: char) {
        self.stdout.as_mut().unwrap_or(&mut self.words).push(c);
    }

    fn at_word_start(&self) -> bool {
        let text = self.stdout.as_ref().unwrap_or(&self.words);
        text.is_empty() || text.ends_with(char::is_whitespace)
    }

    /// Starts the `> FILE` part; `None` for `>>`-like forms, a second `>`, or `2>` (a file
    /// descriptor right before `>`), which this module does not translate.
    fn redirect(&mut self) -> Option<()> {
        let before = self.words.trim_end_matches(|c: char| c.is_ascii_digit());
        let descriptor = before.len() < self.words.len()
            && (before.is_empty() || before.ends_with(char::is_whitespace));
        if self.stdout.is_some() || descriptor {
            return None;
        }
        self.stdout = Some(String::new());
        Some(())
    }

    /// The command read so far, resetting for the next; `None` when it is empty or its words
    /// do not split (the redirection must name exactly one file).
    fn finish(&mut self) -> Option<SimpleCommand> {
        let pieces = std::mem::take(self);
        let words = shlex::split(&pieces.words)?;
        if words.is_empty() {
            return None;
        }
        let stdout = match pieces.stdout {
            None => None,
            Some(target) => match shlex::split(&target)?.as_slice() {
                [file] => Some(file.clone()),
                _ => return None,
            },
        };
        Some(SimpleCommand { words, stdout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Option<Vec<Vec<String>>> {
        simple_commands(line).map(|commands| commands.into_iter().map(|c| c.words).collect())
    }

    #[test]
    fn splits_at_and_and_semicolon_outside_quotes() {
        assert_eq!(
            words("mkdir -p d && wget 'a;b&&c' ; unzip x.zip # done;").unwrap(),
            [
                vec!["mkdir", "-p", "d"],
                vec!["wget", "a;b&&c"],
                vec!["unzip", "x.zip"]
            ]
        );
        assert_eq!(words("mkdir d;").unwrap(), [vec!["mkdir", "d"]]);
        assert_eq!(
            words("wget \\\n  u").unwrap(),
            [vec!["wget", "u"]],
            "a continued line"
        );
    }

    #[test]
    fn reads_one_stdout_redirection() {
        let commands = simple_commands("curl -s u > 'my file.csv'").unwrap();
        assert_eq!(commands[0].words, ["curl", "-s", "u"]);
        assert_eq!(commands[0].stdout.as_deref(), Some("my file.csv"));
        assert_eq!(
            simple_commands("curl u>f").unwrap()[0].stdout.as_deref(),
            Some("f")
        );
    }

    #[test]
    fn refuses_what_it_cannot_translate() {
        for line in [
            "ls | head",
            "wget u &",
            "curl u >> f",
            "curl u 2> err",
            "curl u > f > g",
            "curl u > f g",
            "echo $(pwd)",
            "echo `pwd`",
            "wget $URL",
            "wget {url}",
            "unzip *.zip",
            "(cd d)",
            "wget 'unbalanced",
            "",
            "&& wget u",
            "wget u && && unzip f",
        ] {
            assert_eq!(simple_commands(line), None, "{line}");
        }
    }
}
