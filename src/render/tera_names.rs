// The built-in templates that go through Tera, by their file name in `templates/` (the others
// are written verbatim). Shared by `build.rs`, which parses them when nb2svc is built, and by
// `render`, which looks them up; a file of its own so that both can `include!` it.

/// The built-in templates Tera renders, by file name in `templates/`.
pub(crate) const TERA_TEMPLATES: &[&str] = &[
    "main.py",
    "notebook.py",
    "__init__.py",
    "Dockerfile",
    "docker-compose.yaml",
    "docker-compose.prod.yaml",
    "dockerignore",
    "gitignore",
    "ruff.toml",
    "env.example",
    "README.md",
    "data-README.txt",
];
