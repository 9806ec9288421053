//! Which Python modules a pickle needs to load: the packages a service must install to read a
//! model file that the notebook only loads (a pickled scikit-learn model imports nothing in the
//! notebook, yet `joblib.load` fails without scikit-learn).
//!
//! A pickle names each class it holds by module and name, with the `GLOBAL` opcode (protocols
//! 0 to 3: `c` module `\n` name `\n`) or with two strings then `STACK_GLOBAL` (protocol 4 and
//! 5). This scan finds those patterns without running anything. It is a heuristic: a name the
//! pickle refers to again through its memo is seen once, which is all that is needed, and a
//! compressed file (joblib's `compress=`) shows nothing.

use std::collections::BTreeSet;

const GLOBAL: u8 = b'c';
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE: u8 = b'X';
const MEMOIZE: u8 = 0x94;
const STACK_GLOBAL: u8 = 0x93;

/// The dotted modules the pickle in `bytes` refers to.
pub fn modules(bytes: &[u8]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            GLOBAL => {
                if let Some(module) = global_at(bytes, at + 1) {
                    found.insert(module);
                }
            }
            SHORT_BINUNICODE | BINUNICODE => {
                if let Some(module) = stack_global_at(bytes, at) {
                    found.insert(module);
                }
            }
            _ => {}
        }
        at += 1;
    }
    found
}

/// `module\nname\n` after a `GLOBAL` opcode.
fn global_at(bytes: &[u8], start: usize) -> Option<String> {
    let (module, next) = line_at(bytes, start)?;
    let (name, _) = line_at(bytes, next)?;
    (is_dotted(&module) && is_dotted(&name)).then_some(module)
}

fn line_at(bytes: &[u8], start: usize) -> Option<(String, usize)> {
    let rest = bytes.get(start..)?;
    let end = rest.iter().take(200).position(|&b| b == b'\n')?;
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    Some((text.to_string(), start + end + 1))
}

/// Two strings, each maybe memoized, then `STACK_GLOBAL`: the first is the module.
fn stack_global_at(bytes: &[u8], start: usize) -> Option<String> {
    let (module, next) = string_at(bytes, start)?;
    let next = skip_memoize(bytes, next);
    let (name, next) = string_at(bytes, next)?;
    let next = skip_memoize(bytes, next);
    (bytes.get(next) == Some(&STACK_GLOBAL) && is_dotted(&module) && is_dotted(&name))
        .then_some(module)
}

fn string_at(bytes: &[u8], at: usize) -> Option<(String, usize)> {
    let (length, start) = match *bytes.get(at)? {
        SHORT_BINUNICODE => (usize::from(*bytes.get(at + 1)?), at + 2),
        BINUNICODE => {
            let raw: [u8; 4] = bytes.get(at + 1..at + 5)?.try_into().ok()?;
            (u32::from_le_bytes(raw) as usize, at + 5)
        }
        _ => return None,
    };
    let text = std::str::from_utf8(bytes.get(start..start.checked_add(length)?)?).ok()?;
    Some((text.to_string(), start + length))
}

fn skip_memoize(bytes: &[u8], at: usize) -> usize {
    if bytes.get(at) == Some(&MEMOIZE) {
        at + 1
    } else {
        at
    }
}

/// `sklearn.ensemble._forest`: identifiers joined by dots.
fn is_dotted(text: &str) -> bool {
    !text.is_empty()
        && text.len() < 200
        && text.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::modules;

    #[test]
    fn finds_modules_of_protocol_0_and_4_pickles() {
        // pickle.dumps(RandomForestClassifier(), protocol=0) starts like this.
        let protocol0 = b"ccopy_reg\n_reconstructor\np0\n(csklearn.ensemble._forest\nRandomForestClassifier\np1\n";
        let found = modules(protocol0);
        assert!(found.contains("sklearn.ensemble._forest"), "{found:?}");
        assert!(found.contains("copy_reg"));
        // protocol 4: SHORT_BINUNICODE module, MEMOIZE, SHORT_BINUNICODE name, MEMOIZE, STACK_GLOBAL.
        let mut protocol4 = vec![0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0];
        for text in ["xgboost.sklearn", "XGBClassifier"] {
            protocol4.push(0x8c);
            protocol4.push(text.len() as u8);
            protocol4.extend_from_slice(text.as_bytes());
            protocol4.push(0x94);
        }
        protocol4.push(0x93);
        assert_eq!(
            modules(&protocol4).into_iter().collect::<Vec<_>>(),
            vec!["xgboost.sklearn".to_string()]
        );
    }

    #[test]
    fn plain_bytes_name_no_module() {
        assert!(modules(b"no pickle here \x8c\x05hello\x93 c\n\n").is_empty());
        assert!(modules(&[0x8c, 0xff]).is_empty());
        assert!(modules(&[0x58, 0xff, 0xff, 0xff, 0xff]).is_empty());
    }
}
