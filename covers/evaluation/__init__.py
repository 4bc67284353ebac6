"""Evaluation: pure metric functions (``metrics``), scoring every method on a split and summarising
(``evaluate``), and the run's figures (``plots``). Never imports MLflow."""
