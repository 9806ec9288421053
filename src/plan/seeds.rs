//! Whether the notebook seeds the randomness its training uses, so that two builds train the
//! same model (issue 10). nb2svc never rewrites the notebook to add a seed: the image seeds
//! Python's and NumPy's global generators from `NB2SVC_SEED` before the cells run, and a
//! notebook that sets no seed of its own gets a warning saying so.
//!
//! A heuristic over the code's text, not its meaning: any global seeding call
//! (`random.seed(`, `np.random.seed(`, `tf.random.set_seed(`, `torch.manual_seed(`,
//! `seed_everything(`) or a `random_state=`/`seed=` argument counts as the notebook choosing its
//! seeds. Text in comments or strings can count too, which only ever silences the warning.

use super::PlannedCell;

/// Text that shows the notebook seeds something.
const SEED_MARKS: &[&str] = &[
    ".seed(",
    "set_seed(",
    "manual_seed(",
    "manual_seed_all(",
    "set_random_seed(",
    "seed_everything(",
    "random_state=",
    "random_state =",
    "seed=",
    "seed =",
];

/// The cells the service runs choose their own seeds somewhere.
pub(crate) fn sets_a_seed(cells: &[PlannedCell]) -> bool {
    cells
        .iter()
        .any(|cell| SEED_MARKS.iter().any(|mark| cell.code.contains(mark)))
}

/// The warning for a notebook that trains and sets no seed.
pub(crate) const UNSEEDED: &str = "the notebook sets no random seed: the image seeds Python's \
and NumPy's global generators with NB2SVC_SEED (0) before training, so two builds train the \
same model where the training draws from those; libraries with generators of their own \
(PyTorch, TensorFlow) are not seeded: set a seed in the notebook to be sure";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::notebook_with_tags;

    fn cells(sources: &[&str]) -> Vec<PlannedCell> {
        let with_tags: Vec<(&str, Vec<&str>)> = sources.iter().map(|s| (*s, vec![])).collect();
        notebook_with_tags(&with_tags)
            .cells
            .into_iter()
            .map(|cell| PlannedCell {
                cell: cell.reference,
                code: cell.source,
                line_offset: 0,
                training: None,
                wrapped: false,
            })
            .collect()
    }

    #[test]
    fn a_global_seed_or_a_random_state_counts() {
        assert!(sets_a_seed(&cells(&[
            "import numpy as np\nnp.random.seed(42)\n"
        ])));
        assert!(sets_a_seed(&cells(&[
            "X_train, X_test = train_test_split(X, random_state=0)\n"
        ])));
        assert!(sets_a_seed(&cells(&["tf.random.set_seed(1)\n"])));
    }

    #[test]
    fn training_with_no_seed_does_not() {
        assert!(!sets_a_seed(&cells(&[
            "model = RandomForestClassifier()\nmodel.fit(X, y)\n",
            "X_train, X_test = train_test_split(X, test_size=0.2)\n",
        ])));
    }
}
