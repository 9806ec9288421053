//! The built-in Tera templates as Tera parsed them when nb2svc was built: `build.rs` writes the
//! code that constructs each syntax tree, so a run does not parse the same text again.
//! [`template`] answers for the names in `tera_names.rs`, and `None` for any other.

#![allow(clippy::too_many_lines)]

include!(concat!(env!("OUT_DIR"), "/prebuilt_templates.rs"));

#[cfg(test)]
mod tests {
    use super::template;
    use crate::render::{BUILTIN_TEMPLATES, VERBATIM};

    include!("tera_names.rs");

    fn text(name: &str) -> &'static str {
        BUILTIN_TEMPLATES
            .iter()
            .find(|(builtin, _)| *builtin == name)
            .map(|(_, text)| *text)
            .unwrap_or_else(|| panic!("{name} is a built-in template"))
    }

    /// What Tera parses from a template's text at run time is what was built in: the same
    /// tree, blocks, macros and parent. This also fails when a Tera release changes its tree.
    #[test]
    fn every_prebuilt_template_is_what_tera_parses_from_its_text() {
        for name in TERA_TEMPLATES {
            let built = template(name).unwrap_or_else(|| panic!("{name} is prebuilt"));
            let parsed = tera::Template::new(name, None, text(name)).unwrap();
            assert_eq!(built.name, parsed.name);
            assert_eq!(built.ast, parsed.ast, "{name}");
            assert_eq!(built.blocks, parsed.blocks, "{name}");
            assert_eq!(built.macros, parsed.macros, "{name}");
            assert_eq!(built.parent, parsed.parent, "{name}");
            assert_eq!(built.imported_macro_files, parsed.imported_macro_files);
        }
    }

    /// Every built-in template is either rendered by Tera (and prebuilt) or written verbatim.
    #[test]
    fn the_prebuilt_names_are_the_built_ins_not_written_verbatim() {
        let tera: Vec<&str> = BUILTIN_TEMPLATES
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !VERBATIM.iter().any(|(verbatim, _)| verbatim == name))
            .collect();
        let mut listed = TERA_TEMPLATES.to_vec();
        let mut expected = tera.clone();
        listed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(listed, expected);
        assert!(template("nb2svc_runtime.py").is_none());
    }
}
