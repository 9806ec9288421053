"""Tests of templates/nb2svc_inputs.py: prediction routes that take the notebook's raw
data and answer in its labels, by replaying the preprocessing it recorded in training.

Each test is a small notebook with one preprocessing pattern. It trains in a subprocess
(`python -m app.notebook`, as the image build does) on a penguins-like CSV the test
writes, and also writes `expected.json`: raw rows of its data with the labels its own
objects predict for them. A second subprocess serves the recorded models with the
runtime's routes (FastAPI's TestClient) and posts those raw rows: each answer must be
the notebook's own. They need pandas, scikit-learn, fastapi and httpx; `cargo test`
runs them in a virtual environment that has them (tests/it/runtime.rs).
"""

import importlib.util
import json
import random
import shutil
import tempfile
import textwrap
import unittest
from pathlib import Path
from typing import Any

from test_nb2svc_runtime import make_project, run_python

NEEDED = ("pandas", "sklearn", "fastapi", "httpx")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
SPECIES = {"Biscoe": "Gentoo", "Dream": "Chinstrap", "Torgersen": "Adelie"}

# What the service does with the manifest, driven from the command line: loads the
# recorded models, adds their routes, and posts the bodies it is given.
SERVE = """\
import json
import sys

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import nb2svc_models, nb2svc_runtime as runtime

state = runtime.ServiceState()
nb2svc_models.load_recorded_artifacts(state)
app = FastAPI()


@app.get("/models")
def models():
    return nb2svc_models.describe_artifacts(state)


nb2svc_models.add_model_routes(app, state, None)
client = TestClient(app)
openapi = client.get("/openapi.json").json()
answers = []
for route, body in json.loads(sys.argv[1]):
    if body == "example":
        schema = openapi["paths"][route]["post"]["requestBody"]["content"]
        name = schema["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        body = openapi["components"]["schemas"][name]["example"]
    answer = client.post(route, json=body)
    answers.append({"body": body, "status": answer.status_code, "json": answer.json()})
print(json.dumps({"models": client.get("/models").json(), "answers": answers}))
"""

READ = """\
# %% cell 1, line 1
import json

import joblib
import numpy as np
import pandas as pd

raw = pd.read_csv("penguins.csv")
"""

# The notebook's own answers for raw rows: what every route must answer too.
EXPECT = """\
# %% cell 9, line 1
rows = raw.dropna().iloc[:12]
with open("expected.json", "w") as handle:
    json.dump(
        {
            "rows": json.loads(rows.drop(columns=["species"]).to_json(orient="records")),
            "labels": [str(label) for label in expected(rows)],
        },
        handle,
    )
"""


def penguins_csv() -> str:
    """A deterministic penguins-like table: the island says the species, mostly."""
    rng = random.Random(7)
    lines = ["species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"]
    islands = list(SPECIES)
    for index in range(90):
        island = islands[index % 3]
        species = SPECIES[island] if index % 10 else SPECIES[islands[(index + 1) % 3]]
        base = {"Gentoo": 47.5, "Chinstrap": 48.8, "Adelie": 38.8}[species]
        depth = {"Gentoo": 15.0, "Chinstrap": 18.4, "Adelie": 18.3}[species]
        flipper = {"Gentoo": 217, "Chinstrap": 196, "Adelie": 190}[species]
        mass = {"Gentoo": 5076, "Chinstrap": 3733, "Adelie": 3700}[species]
        sex = "MALE" if index % 2 else "FEMALE"
        lines.append(
            f"{species},{island},{base + rng.uniform(-2, 2):.1f},"
            f"{depth + rng.uniform(-1, 1):.1f},{flipper + rng.randint(-5, 5)},"
            f"{mass + rng.randint(-200, 200)},{'' if index == 4 else sex}"
        )
    return "\n".join(lines) + "\n"


# Skipped where they are missing; tests/it/runtime.rs runs them where they are not, and
# fails on a skip.
@unittest.skipIf(MISSING, f"needs {MISSING}")
class ReplayTest(unittest.TestCase):
    """Trains a notebook, then serves what it saved and asks with raw rows."""

    def train(self, preprocessing: str) -> dict[str, Any]:
        root = Path(tempfile.mkdtemp(prefix="nb2svc-inputs-")).resolve()
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        notebook = READ + textwrap.dedent(preprocessing) + EXPECT
        project = make_project(root / "project", notebook)
        folder = project / "data" / "sub" / "dir"
        folder.mkdir(parents=True)
        (folder / "penguins.csv").write_text(penguins_csv())
        trained = run_python(project, "-m", "app.notebook")
        self.assertEqual(trained.returncode, 0, trained.stderr)
        self.project, self.training_log = project, trained.stderr
        return json.loads((folder / "expected.json").read_text())

    def serve(self, requests: list) -> dict[str, Any]:
        (self.project / "serve.py").write_text(SERVE)
        served = run_python(self.project, "serve.py", json.dumps(requests))
        self.assertEqual(served.returncode, 0, served.stderr)
        return json.loads(served.stdout)

    def assert_answers_as_the_notebook(self, expected: dict, routes: list) -> dict:
        examples = self.serve([[route, "example"] for route in routes])["answers"]
        # A route takes the columns its model uses, and refuses others: each row is cut
        # to the columns of the route's example.
        requests = [
            [route, {k: v for k, v in row.items() if k in example["body"]}]
            for route, example in zip(routes, examples)
            for row in expected["rows"]
        ]
        served = self.serve(requests)
        answers = served["answers"]
        for example in examples:
            self.assertEqual(example["status"], 200, example)
            self.assertIn(example["body"]["island"], SPECIES)
            self.assertIn(example["json"]["prediction"], SPECIES.values())
        labels = expected["labels"] * len(routes)
        got = [answer["json"].get("prediction") for answer in answers]
        self.assertEqual(got, labels, answers)
        return served

    def test_label_encoders_per_column_and_on_the_target(self) -> None:
        expected = self.train(
            """\
            # %% cell 2, line 1
            from sklearn.ensemble import RandomForestClassifier
            from sklearn.linear_model import LogisticRegression
            from sklearn.model_selection import train_test_split
            from sklearn.preprocessing import LabelEncoder

            df = raw.dropna()
            # %% cell 3, line 1
            species = LabelEncoder()
            encoder = LabelEncoder()
            df["species"] = species.fit_transform(df["species"])
            df["island"] = encoder.fit_transform(df["island"])
            codes = {"island": encoder.classes_.tolist()}
            df["sex"] = encoder.fit_transform(df["sex"])
            codes["sex"] = encoder.classes_.tolist()
            X = df.drop(columns=["species"])
            X_train, X_test, y_train, y_test = train_test_split(
                X, df["species"], test_size=0.25, random_state=0
            )
            # %% cell 4, line 1
            forest = RandomForestClassifier(n_estimators=20, random_state=0)
            forest.fit(X_train, y_train)
            best = LogisticRegression(max_iter=5000).fit(X_train, y_train)
            joblib.dump(forest, "forest.joblib")
            joblib.dump(best, "best_model.joblib")


            def expected(rows):
                X = rows.drop(columns=["species"]).copy()
                for column in ("island", "sex"):
                    X[column] = [codes[column].index(v) for v in X[column]]
                return species.inverse_transform(forest.predict(X))
            """
        )
        served = self.assert_answers_as_the_notebook(expected, ["/predict/forest"])
        models = served["models"]
        self.assertIn("under a name that says it chose it", models["best_model"]["default"])
        self.assertNotIn("default", models["forest"])
        inputs = models["forest"]["inputs"]
        self.assertTrue(inputs["replayed"], inputs)
        columns = {column["name"]: column for column in inputs["columns"]}
        self.assertEqual(columns["island"]["values"], sorted(SPECIES))
        self.assertEqual(columns["sex"]["values"], ["FEMALE", "MALE"])
        self.assertEqual(columns["bill_length_mm"]["kind"], "number")
        steps = "\n".join(inputs["steps"])
        self.assertIn("island: LabelEncoder encoding of island", steps)
        self.assertIn("cell 3", steps)
        self.assertIn("decoded to species", steps)
        # The default answers the same raw body; an unknown island is a 422 that names
        # the islands the encoder knows.
        row = {k: v for k, v in expected["rows"][0].items() if k in columns}
        unknown = {**row, "island": "Atlantis"}
        answers = self.serve([["/predict", row], ["/predict/forest", unknown]])["answers"]
        self.assertEqual(answers[0]["status"], 200, answers[0])
        self.assertEqual(answers[0]["json"]["model"], "best_model")
        self.assertIn(answers[0]["json"]["prediction"], SPECIES.values())
        self.assertEqual(answers[1]["status"], 422, answers[1])
        self.assertIn("Biscoe", json.dumps(answers[1]["json"]))

    def test_get_dummies_with_its_training_columns_and_a_new_column_order(self) -> None:
        expected = self.train(
            """\
            # %% cell 2, line 1
            from sklearn.linear_model import LogisticRegression
            from sklearn.preprocessing import LabelEncoder

            df = raw.dropna()
            target = LabelEncoder()
            y = target.fit_transform(df["species"])
            X = pd.get_dummies(
                df.drop(columns=["species"]), columns=["island", "sex"], drop_first=True
            )
            X = X[sorted(X.columns)]
            model = LogisticRegression(max_iter=5000).fit(X, y)
            joblib.dump(model, "model.joblib")
            joblib.dump(LogisticRegression(C=0.5, max_iter=5000).fit(X, y), "other.joblib")
            # The notebook's own registry names its choice.
            with open("registry.json", "w") as handle:
                json.dump({"best_model": "model", "accuracy": 0.9}, handle)


            def expected(rows):
                dummies = pd.get_dummies(
                    rows.drop(columns=["species"]), columns=["island", "sex"]
                )
                return target.inverse_transform(
                    model.predict(dummies.reindex(columns=X.columns, fill_value=False))
                )
            """
        )
        served = self.assert_answers_as_the_notebook(expected, ["/predict/model"])
        because = served["models"]["model"]["default"]
        self.assertIn("registry sub/dir/registry.json (cell 2, line", because)
        self.assertNotIn("default", served["models"]["other"])
        inputs = served["models"]["model"]["inputs"]
        names = [column["name"] for column in inputs["columns"]]
        self.assertEqual(names[:2], ["island", "bill_length_mm"])
        self.assertIn("sex", names)
        self.assertTrue(any("island_Dream" in step for step in inputs["steps"]))

    def test_scalers_on_a_column_subset_and_an_ordinal_encoder(self) -> None:
        expected = self.train(
            """\
            # %% cell 2, line 1
            from sklearn.preprocessing import MinMaxScaler, OrdinalEncoder, StandardScaler
            from sklearn.tree import DecisionTreeClassifier

            df = raw.dropna()
            numbers = ["bill_length_mm", "flipper_length_mm"]
            standard, minmax, ordinal = StandardScaler(), MinMaxScaler(), OrdinalEncoder()
            df[numbers] = standard.fit_transform(df[numbers])
            df[["body_mass_g"]] = minmax.fit_transform(df[["body_mass_g"]])
            df[["island", "sex"]] = ordinal.fit_transform(df[["island", "sex"]])
            X = df[["sex", "island", "bill_length_mm", "flipper_length_mm", "body_mass_g"]]
            model = DecisionTreeClassifier(random_state=0).fit(X, df["species"])
            joblib.dump(model, "tree.joblib")


            def expected(rows):
                X = rows.copy()
                X[numbers] = standard.transform(X[numbers])
                X[["body_mass_g"]] = minmax.transform(X[["body_mass_g"]])
                X[["island", "sex"]] = ordinal.transform(X[["island", "sex"]])
                return model.predict(X[model.feature_names_in_])
            """
        )
        served = self.assert_answers_as_the_notebook(expected, ["/predict/tree"])
        steps = "\n".join(served["models"]["tree"]["inputs"]["steps"])
        self.assertIn("bill_length_mm: StandardScaler", steps)
        self.assertIn("body_mass_g: MinMaxScaler", steps)
        self.assertIn("island: OrdinalEncoder encoding", steps)

    def test_one_hot_encoder_outside_a_pipeline_a_computed_column_and_a_scaled_array(
        self,
    ) -> None:
        expected = self.train(
            """\
            # %% cell 2, line 1
            from sklearn.model_selection import train_test_split
            from sklearn.preprocessing import OneHotEncoder, StandardScaler
            from sklearn.svm import SVC

            df = raw.dropna()
            X = df.drop(columns=["species"])
            X["bill_ratio"] = X["bill_length_mm"] / X["bill_depth_mm"]
            # %% cell 3, line 1
            ohe = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
            categories = pd.DataFrame(
                ohe.fit_transform(X[["island", "sex"]]),
                columns=ohe.get_feature_names_out(["island", "sex"]),
                index=X.index,
            )
            X = pd.concat([X.drop(columns=["island", "sex"]), categories], axis=1)
            X_train, X_test, y_train, y_test = train_test_split(
                X, df["species"], random_state=0
            )
            scaler = StandardScaler()
            model = SVC().fit(scaler.fit_transform(X_train), y_train)
            joblib.dump(model, "svc.joblib")
            joblib.dump(scaler, "scaler.joblib")


            def expected(rows):
                return model.predict(scaler.transform(X.loc[rows.index]))
            """
        )
        served = self.assert_answers_as_the_notebook(expected, ["/predict/svc"])
        inputs = served["models"]["svc"]["inputs"]
        steps = "\n".join(inputs["steps"])
        self.assertIn("bill_ratio: X[\"bill_length_mm\"] / X[\"bill_depth_mm\"] (cell 2", steps)
        self.assertIn("then StandardScaler.transform", steps)
        # The encoder ignores unknown categories, so the route does too.
        island = {c["name"]: c for c in inputs["columns"]}["island"]
        self.assertEqual(island.get("unknown"), "allowed")
        row = {**expected["rows"][0], "island": "Atlantis"}
        answer = self.serve([["/predict/svc", row]])["answers"][0]
        self.assertEqual(answer["status"], 200, answer)

    def test_a_pipeline_keeps_taking_raw_columns(self) -> None:
        expected = self.train(
            """\
            # %% cell 2, line 1
            from sklearn.compose import ColumnTransformer
            from sklearn.ensemble import RandomForestClassifier
            from sklearn.pipeline import Pipeline
            from sklearn.preprocessing import OneHotEncoder

            df = raw.dropna()
            pipeline = Pipeline(
                [
                    (
                        "encode",
                        ColumnTransformer(
                            [("categories", OneHotEncoder(), ["island", "sex"])],
                            remainder="passthrough",
                        ),
                    ),
                    ("forest", RandomForestClassifier(n_estimators=10, random_state=0)),
                ]
            )
            pipeline.fit(df.drop(columns=["species"]), df["species"])
            joblib.dump(pipeline, "pipeline.joblib")


            def expected(rows):
                return pipeline.predict(rows.drop(columns=["species"]))
            """
        )
        self.assert_answers_as_the_notebook(expected, ["/predict/pipeline"])
        row = {**expected["rows"][0], "sex": "UNKNOWN"}
        answer = self.serve([["/predict/pipeline", row]])["answers"][0]
        self.assertEqual(answer["status"], 422, answer)
        self.assertIn("FEMALE", json.dumps(answer["json"]))

    def test_arrays_taken_with_values_then_split_keep_their_columns(self) -> None:
        expected = self.train(
            """\
            # %% cell 2, line 1
            from sklearn.model_selection import train_test_split
            from sklearn.neighbors import KNeighborsClassifier
            from sklearn.preprocessing import LabelEncoder

            df = raw.dropna().copy()
            df["sex"] = df["sex"].map({"MALE": 1, "FEMALE": 0})
            df["island"] = df["island"].astype("category").cat.codes
            features = ["island", "sex", "bill_length_mm", "flipper_length_mm"]
            X = df[features].values
            target = LabelEncoder()
            y = target.fit_transform(df["species"])
            X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1)
            model = KNeighborsClassifier(n_neighbors=3).fit(X_train, y_train)
            joblib.dump(model, "knn.joblib")


            def expected(rows):
                return target.inverse_transform(model.predict(df.loc[rows.index, features].values))
            """
        )
        served = self.assert_answers_as_the_notebook(expected, ["/predict/knn"])
        inputs = served["models"]["knn"]["inputs"]
        self.assertEqual(
            [column["name"] for column in inputs["columns"]],
            ["island", "bill_length_mm", "flipper_length_mm", "sex"],
        )

    def test_untraceable_features_are_said_and_the_route_takes_the_models_features(
        self,
    ) -> None:
        self.train(
            """\
            # %% cell 2, line 1
            from sklearn.linear_model import LogisticRegression

            df = raw.dropna()
            numbers = df[["bill_length_mm", "bill_depth_mm"]].to_numpy(dtype=float)
            model = LogisticRegression(max_iter=5000).fit(np.log1p(numbers), df["species"])
            joblib.dump(model, "model.joblib")


            def expected(rows):
                return []
            """
        )
        self.assertIn("takes the model's own features", self.training_log)
        served = self.serve([["/predict/model", "example"]])
        inputs = served["models"]["model"]["inputs"]
        self.assertFalse(inputs["replayed"])
        self.assertIn("cannot trace", inputs["reason"])
        answer = served["answers"][0]
        self.assertEqual(list(answer["body"]), ["features"])
        self.assertEqual(answer["status"], 200, answer)


if __name__ == "__main__":
    unittest.main()
