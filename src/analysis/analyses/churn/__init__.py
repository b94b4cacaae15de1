"""Churn and retention: rates (C11), survival models (C3-C5) and the churn classifier.

The notebooks import the package
(``from analysis.analyses import churn``): every public name of its
modules is available here.
"""

from analysis.analyses.churn.classifier import (
    CLASSIFIER_FEATURES,
    CLASSIFIER_INPUTS,
    CLASSIFIER_MEANINGS,
    ChurnClassifier,
    auc_with_ci,
    classifier_frame,
    fit_classifier,
    lift_table,
    odds_table,
    orders_ahead,
    plot_calibration,
)
from analysis.analyses.churn.dropout import (
    DEFINITION,
    dropout_inputs,
    fit_cox_model_dropout,
    imputed_frame,
    sample_dropouts,
)
from analysis.analyses.churn.inactivity import (
    InactivityWindow,
    inactivity_churn,
    inactivity_window,
)
from analysis.analyses.churn.rates import (
    annualise,
    churn_rate,
    claim_c11,
    claim_c11_model,
)
from analysis.analyses.churn.report import (
    ChurnReport,
    auc_text,
    bands,
    churn_report,
    hazard_table,
    purchase_models,
    rates_table,
)
from analysis.analyses.churn.survival import (
    COX_TERMS,
    CoxResult,
    RetentionCurves,
    add_early_service,
    claim_c3,
    claim_c4,
    claim_c5,
    cox_design,
    fit_cox,
    landmark_frame,
    ph_check,
    plot_retention,
    retention_curves,
)
