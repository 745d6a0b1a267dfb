"""Non-graph baseline: logistic regression on the same features and split as the GNNs."""

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def fit_logistic(x, y, C, max_iter, seed):
    """Standardised features → multinomial logistic regression, fitted on ``x``, ``y``."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    return model.fit(x, y)
