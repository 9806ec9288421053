use super::*;
use crate::diagnostics::CellRef;
use crate::extract::Directives;
use crate::python::{analyze_with, Inherited};

/// Extracted cells (numbered from 1, no offsets) and their facts, aliases carried along.
fn notebook(sources: &[&str]) -> (Vec<ExtractedCell>, Vec<ModuleFacts>) {
    let mut inherited = Inherited::default();
    let mut cells = Vec::new();
    let mut facts = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let cell_facts = analyze_with(source, &inherited).unwrap_or_else(|e| panic!("{e}"));
        inherited = Inherited::after(&cell_facts, &Default::default());
        facts.push(cell_facts);
        cells.push(ExtractedCell {
            cell: CellRef::new(index + 1, None),
            code: source.to_string(),
            line_offset: 0,
            directives: Directives::default(),
            tree: None,
        });
    }
    (cells, facts)
}

fn served(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

/// The verdict of the one statement whose source starts with `snippet`.
fn verdict<'s>(
    slice: &'s Slice,
    cells: &[ExtractedCell],
    facts: &[ModuleFacts],
    snippet: &str,
) -> &'s Verdict {
    let mut found = Vec::new();
    for (index, cell_facts) in facts.iter().enumerate() {
        for (position, unit) in cell_facts.units.iter().enumerate() {
            if cells[index].code[unit.start..unit.end].starts_with(snippet) {
                found.push(&slice.cell(index)[position].verdict);
            }
        }
    }
    assert_eq!(found.len(), 1, "statements starting with `{snippet}`");
    found[0]
}

fn assert_kept(slice: &Slice, cells: &[ExtractedCell], facts: &[ModuleFacts], snippets: &[&str]) {
    for snippet in snippets {
        let verdict = verdict(slice, cells, facts, snippet);
        assert!(verdict.is_kept(), "`{snippet}` should run: {verdict:?}");
    }
}

fn assert_left_out(
    slice: &Slice,
    cells: &[ExtractedCell],
    facts: &[ModuleFacts],
    snippets: &[&str],
) {
    for snippet in snippets {
        let verdict = verdict(slice, cells, facts, snippet);
        assert!(
            !verdict.is_kept(),
            "`{snippet}` should be left out: {verdict:?}"
        );
    }
}

fn reason(slice: &Slice, cells: &[ExtractedCell], facts: &[ModuleFacts], snippet: &str) -> String {
    verdict(slice, cells, facts, snippet).reason().to_string()
}

const STUDENT: &[&str] = &[
    "import pandas as pd\nimport seaborn as sns\nfrom ydata_profiling import ProfileReport\n\
     from sklearn.preprocessing import LabelEncoder\n\
     from sklearn.linear_model import LogisticRegression\n\
     from sklearn.ensemble import RandomForestClassifier\nimport joblib\n",
    "df = pd.read_csv(\"penguins.csv\")\ndf.head()",
    "ProfileReport(df).to_file(\"r.html\")",
    "sns.pairplot(df)",
    "df = df.dropna()\nle = LabelEncoder()\ndf[\"island\"] = le.fit_transform(df[\"island\"])",
    "cols = [\"bill_length_mm\", \"island\"]\nX = df[cols]; y = df[\"species\"]",
    "models = {\"lr\": LogisticRegression(), \"rf\": RandomForestClassifier()}",
    "for name, m in models.items():\n    m.fit(X, y)\n    joblib.dump(m, f\"models/{name}.joblib\")",
    "score = models[\"lr\"].score(X, y)\nprint(score)",
];

fn student() -> (Vec<ExtractedCell>, Vec<ModuleFacts>, Slice) {
    let (cells, facts) = notebook(STUDENT);
    let slice = slice(&cells, &facts, &served(&[]));
    (cells, facts, slice)
}

#[test]
fn student_notebook_keeps_training_and_leaves_exploration_out() {
    let (cells, facts, slice) = student();
    assert!(!slice.keeps_everything());
    assert_kept(
        &slice,
        &cells,
        &facts,
        &[
            "import pandas",
            "from sklearn.preprocessing",
            "from sklearn.linear_model",
            "from sklearn.ensemble",
            "import joblib",
            "df = pd.read_csv",
            "df = df.dropna()",
            "le = LabelEncoder()",
            "df[\"island\"]",
            "cols = ",
            "X = df[cols]",
            "y = df",
            "models = {",
            "for name, m in",
        ],
    );
    assert_left_out(
        &slice,
        &cells,
        &facts,
        &[
            "import seaborn",
            "from ydata_profiling",
            "df.head()",
            "ProfileReport(df)",
            "sns.pairplot",
            "score = ",
            "print(score)",
        ],
    );
    assert_eq!(
        reason(&slice, &cells, &facts, "for name, m in"),
        "saves an artifact"
    );
    assert_eq!(
        reason(&slice, &cells, &facts, "df = pd.read_csv"),
        "defines `df`, which cell 5, line 1 needs"
    );
    assert_eq!(
        reason(&slice, &cells, &facts, "df[\"island\"]"),
        "changes `df`, which cell 6, line 2 reads"
    );
    assert_eq!(
        reason(&slice, &cells, &facts, "sns.pairplot"),
        "nothing served depends on it"
    );
    // Requirements come from the imports that run.
    assert!(slice.runs_line(0, 1));
    assert!(!slice.runs_line(0, 2));
    assert!(!slice.runs_line(0, 3));
    assert!(slice.runs_line(0, 7));
    let left_out: Vec<String> = slice.left_out().map(|s| s.location.to_string()).collect();
    assert_eq!(
        left_out,
        [
            "cell 1, line 2",
            "cell 1, line 3",
            "cell 2, line 2",
            "cell 3, line 1",
            "cell 4, line 1",
            "cell 9, line 1",
            "cell 9, line 2",
        ]
    );
}

#[test]
fn commenting_out_keeps_lines_and_valid_python() {
    let (cells, _, slice) = student();
    let mut module = String::new();
    for (index, cell) in cells.iter().enumerate() {
        let commented = slice.comment_out(index, &cell.code);
        assert_eq!(
            commented.split('\n').count(),
            cell.code.split('\n').count(),
            "{commented}"
        );
        assert!(
            ruff_python_parser::parse_module(&commented).is_ok(),
            "{commented}"
        );
        module.push_str(&commented);
        module.push('\n');
    }
    assert!(
        ruff_python_parser::parse_module(&module).is_ok(),
        "{module}"
    );
    assert_eq!(
        slice.comment_out(1, &cells[1].code),
        "df = pd.read_csv(\"penguins.csv\")\n# nb2svc: left out: df.head()"
    );
    // A cell left out entirely is comments only.
    assert_eq!(
        slice.comment_out(3, &cells[3].code),
        "# nb2svc: left out: sns.pairplot(df)"
    );
}

#[test]
fn commenting_out_a_multi_line_statement_comments_every_line() {
    let sources = [
        "import joblib\nimport matplotlib.pyplot as plt\n",
        "def show(values):\n    plt.plot(values)\n\n    plt.show()\r\nx = 1\r\njoblib.dump(x, 'x.joblib')\n",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    let commented = slice.comment_out(1, &cells[1].code);
    assert_eq!(
        commented,
        "# nb2svc: left out: def show(values):\n#     plt.plot(values)\n#\n#     plt.show()\r\nx = 1\r\njoblib.dump(x, 'x.joblib')\n"
    );
    assert!(ruff_python_parser::parse_module(&commented).is_ok());
    assert!(!slice.runs_line(0, 2), "matplotlib is only used by `show`");
}

#[test]
fn statements_sharing_a_line_run_together() {
    let sources = [
        "import pandas as pd; import seaborn as sns\nimport joblib",
        "df = pd.read_csv('d.csv')\njoblib.dump(df, 'd.joblib')",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    assert_kept(&slice, &cells, &facts, &["import seaborn"]);
    assert_eq!(
        reason(&slice, &cells, &facts, "import seaborn"),
        "shares a line with cell 1, line 1, which runs"
    );
    assert!(slice.runs_line(0, 1));
    assert_eq!(slice.comment_out(0, &cells[0].code), cells[0].code);
}

#[test]
fn a_helper_that_saves_makes_its_calls_roots() {
    let sources = [
        "import joblib\nfrom sklearn.tree import DecisionTreeClassifier",
        "def save_model(obj, path):\n    joblib.dump(obj, path)",
        "def train_and_save(model):\n    model.fit(X, y)\n    save_model(model, 'm.joblib')",
        "X = [[0], [1]]\ny = [0, 1]\nprint(X)",
        "model = DecisionTreeClassifier()",
        "train_and_save(model)",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    assert_kept(
        &slice,
        &cells,
        &facts,
        &[
            "import joblib",
            "from sklearn.tree",
            "def save_model",
            "def train_and_save",
            "X = ",
            "y = ",
            "model = ",
            "train_and_save(model)",
        ],
    );
    assert_left_out(&slice, &cells, &facts, &["print(X)"]);
    assert_eq!(
        reason(&slice, &cells, &facts, "train_and_save(model)"),
        "calls `train_and_save`, which saves an artifact"
    );
    // The helper's globals are needed where it is called, after its definition.
    assert_eq!(
        reason(&slice, &cells, &facts, "X = "),
        "defines `X`, which cell 3, line 1 needs"
    );
}

#[test]
fn process_changes_run_and_keep_their_imports() {
    let sources = [
        "import os\nimport joblib\nimport sys",
        "os.chdir('..')\nsys.path.append('..')",
        "from utils import clean\nimport plotly.express as px",
        "df = clean('raw.csv')\npx.scatter(df)\njoblib.dump(df, 'df.joblib')",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    assert_kept(
        &slice,
        &cells,
        &facts,
        &[
            "import os",
            "import sys",
            "os.chdir",
            "sys.path.append",
            "from utils",
            "df = clean",
        ],
    );
    assert_left_out(&slice, &cells, &facts, &["import plotly", "px.scatter"]);
    assert_eq!(
        reason(&slice, &cells, &facts, "os.chdir"),
        "changes the process (os.chdir)"
    );
    assert_eq!(
        reason(&slice, &cells, &facts, "import os"),
        "defines `os`, which cell 2, line 1 needs"
    );
}

#[test]
fn a_served_function_keeps_the_globals_bound_after_it() {
    let sources = [
        "import joblib\nimport matplotlib.pyplot as plt",
        "def predict(bill_length: float) -> str:\n    return str(model.predict([[bill_length]])[0])",
        "model = joblib.load('model.joblib')\nplt.plot([1, 2])",
        "predict(40.0)",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&["predict"]));
    assert_kept(
        &slice,
        &cells,
        &facts,
        &["import joblib", "def predict", "model = joblib.load"],
    );
    assert_left_out(
        &slice,
        &cells,
        &facts,
        &["import matplotlib", "plt.plot", "predict(40.0)"],
    );
    assert_eq!(
        reason(&slice, &cells, &facts, "def predict"),
        "defines `predict`, a served function"
    );
    assert_eq!(
        reason(&slice, &cells, &facts, "model = joblib.load"),
        "defines `model`, which cell 2, line 1 needs"
    );
}

#[test]
fn changes_through_methods_and_functions_are_kept() {
    let sources = [
        "import pandas as pd\nimport joblib",
        "df = pd.read_csv('d.csv')",
        "df.dropna(inplace=True)\ndf.describe()",
        "def clean():\n    df.drop(columns=['id'], inplace=True)",
        "clean()",
        "models = {'a': make()}",
        "for m in models.values():\n    m.fit(df)",
        "joblib.dump(models['a'], 'a.joblib')",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    assert_kept(
        &slice,
        &cells,
        &facts,
        &[
            "df.dropna(inplace=True)",
            "def clean",
            "clean()",
            "for m in",
        ],
    );
    assert_left_out(&slice, &cells, &facts, &["df.describe()"]);
    assert_eq!(
        reason(&slice, &cells, &facts, "clean()"),
        "changes `df`, which cell 7, line 1 reads"
    );
}

#[test]
fn a_rebound_builtin_is_a_dependency() {
    let sources = [
        "import joblib",
        "input = [[1, 2]]\nsum = 0",
        "joblib.dump(input, 'input.joblib')",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    assert_kept(&slice, &cells, &facts, &["input = "]);
    assert_left_out(&slice, &cells, &facts, &["sum = "]);
}

#[test]
fn marked_cells_run_whole() {
    let sources = [
        "import joblib\nimport seaborn as sns",
        "sns.set_theme()\nx = 1",
    ];
    let (mut cells, facts) = notebook(&sources);
    cells[1].directives.train = true;
    let slice = slice(&cells, &facts, &served(&[]));
    assert_kept(
        &slice,
        &cells,
        &facts,
        &["import seaborn", "sns.set_theme", "x = 1"],
    );
    assert_left_out(&slice, &cells, &facts, &["import joblib"]);
    assert_eq!(
        reason(&slice, &cells, &facts, "x = 1"),
        "its cell is marked `train`"
    );
}

#[test]
fn reports_are_not_saves() {
    let sources = [
        "import pandas as pd",
        "df = pd.read_csv('d.csv')\nfig = df.plot().get_figure()\nfig.savefig('p.png')",
    ];
    let (cells, mut facts) = notebook(&sources);
    // Were `savefig` recognised as a write, it still would not count.
    let mut savefig = facts[1].path_calls[0].clone();
    savefig.function = "fig.savefig".into();
    savefig.access = PathAccess::Write;
    savefig.literal_start = cells[1].code.find("'p.png'").unwrap();
    facts[1].path_calls.push(savefig);
    let slice = slice(&cells, &facts, &served(&[]));
    assert!(slice.keeps_everything());
}

#[test]
fn process_changes_and_data_files_alone_serve_nothing() {
    let sources =
        ["import os\nos.makedirs('out', exist_ok=True)\nx = train()\nx.to_csv('out/x.csv')"];
    let (cells, facts) = notebook(&sources);
    assert!(slice(&cells, &facts, &served(&[])).keeps_everything());

    let sources = [
        "import os\nimport joblib\nos.makedirs('out', exist_ok=True)",
        "x = train()\nx.to_csv('out/x.csv')\ny = 2\njoblib.dump(y, 'y.joblib')",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    assert!(!slice.keeps_everything());
    assert_eq!(reason(&slice, &cells, &facts, "x.to_csv"), "writes a file");
    assert_eq!(
        reason(&slice, &cells, &facts, "os.makedirs"),
        "changes the process (os.makedirs)"
    );
    assert_kept(&slice, &cells, &facts, &["x = train()", "y = 2"]);
}

#[test]
fn without_roots_everything_runs() {
    let sources = ["import pandas as pd\ndf = pd.read_csv('d.csv')\ndf.head()"];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    assert!(slice.keeps_everything());
    assert!(slice.left_out().next().is_none());
    assert_eq!(
        reason(&slice, &cells, &facts, "df.head()"),
        "nothing to serve was found, so every statement runs"
    );
    assert_eq!(slice.comment_out(0, &cells[0].code), cells[0].code);
}

#[test]
fn fetches_run_before_the_reads() {
    let sources = [
        "import pandas as pd\nimport joblib",
        "_nb2svc_fetch.download('https://example.org/d.csv', 'd.csv')\n__import__('os').makedirs('models', exist_ok=True)",
        "df = pd.read_csv('d.csv')\njoblib.dump(df, 'models/df.joblib')",
    ];
    let (cells, facts) = notebook(&sources);
    let slice = slice(&cells, &facts, &served(&[]));
    assert_eq!(
        reason(&slice, &cells, &facts, "_nb2svc_fetch.download"),
        "fetches data (_nb2svc_fetch.download)"
    );
    assert_eq!(
        reason(&slice, &cells, &facts, "__import__"),
        "fetches data (os.makedirs)"
    );
}

#[test]
fn corpus_notebooks_comment_out_to_valid_python() {
    let Some(corpus) = crate::test_support::corpus_dir() else {
        println!("note: ../shared/corpus is missing; corpus test skipped");
        return;
    };
    let (mut notebooks, mut statements, mut left_out, mut whole) = (0, 0, 0, 0);
    for path in crate::test_support::notebooks_under(&corpus) {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(parsed) = crate::notebook::parse(&bytes) else {
            continue;
        };
        let Ok(extraction) = crate::extract::extract(&parsed) else {
            continue;
        };
        let mut inherited = Inherited::default();
        let mut facts = Vec::new();
        for cell in &extraction.cells {
            match analyze_with(&cell.code, &inherited) {
                Ok(cell_facts) => {
                    inherited = Inherited::after(&cell_facts, &Default::default());
                    facts.push(cell_facts);
                }
                Err(_) => break,
            }
        }
        if facts.len() != extraction.cells.len() {
            continue;
        }
        let defines_predict = facts.iter().any(|f| {
            f.functions
                .iter()
                .any(|function| function.name == "predict")
        });
        let served = served(if defines_predict { &["predict"] } else { &[] });
        let slice = slice(&extraction.cells, &facts, &served);
        notebooks += 1;
        whole += usize::from(slice.keeps_everything());
        statements += facts.iter().map(|f| f.units.len()).sum::<usize>();
        left_out += slice.left_out().count();
        for (index, cell) in extraction.cells.iter().enumerate() {
            let commented = slice.comment_out(index, &cell.code);
            assert_eq!(
                commented.split('\n').count(),
                cell.code.split('\n').count(),
                "{}",
                path.display()
            );
            assert!(
                ruff_python_parser::parse_module(&commented).is_ok(),
                "{}: {}\n{commented}",
                path.display(),
                cell.cell
            );
        }
    }
    println!(
        "corpus: {notebooks} notebooks sliced ({whole} kept whole), \
         {left_out} of {statements} statements left out"
    );
}
