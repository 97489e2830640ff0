"""Themes in what customers say: embed texts, cluster them recursively, name the clusters.

The package is split like the pipeline it implements:

- `config`: the recipe's ``clustering`` section (`ClusteringConfig`).
- `embedders`: texts → unit vectors (local ONNX model, OpenAI, Vertex AI), cached by content.
- `reducers`: vectors → fewer dimensions before clustering (PCA, UMAP, none).
- `clusterers`: reduced vectors → flat labels (HDBSCAN).
- `recursive`: the hierarchy (``root.0``, ``root.0.1``, ``root.0.noise``) from the two above.
- `naming`: keywords (class-based TF-IDF), representative texts, LLM names.
- `tagging`: the recipe's predefined categories per text.
- `assign`: the fitted model's state, and assigning new texts without a refit.
- `outputs`: CSVs, PNGs and the summary report.
- `pipeline`: the whole thing for one run, independent of the step machinery.

Importing this package (or `config`) is cheap: numpy, scikit-learn, hdbscan,
onnxruntime and matplotlib load inside the component that needs them.
"""
