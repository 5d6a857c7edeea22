"""Best-subset regression, scikit-learn style, on scikit-learn's bundled diabetes data.

    python examples/sparse_regression_estimators.py

Fits ``SparseLinearRegression`` with 5 features, then lets ``SparseLinearRegressionCV`` choose
the number of features by 5-fold cross-validation (it tries every level 1..10 here).
"""

from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from chita import SparseLinearRegression, SparseLinearRegressionCV


def main() -> None:
    data = load_diabetes()
    X, y = data.data, data.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    model = SparseLinearRegression(n_nonzero_coefs=5, random_state=0).fit(X_train, y_train)
    names = [data.feature_names[i] for i in model.support_]
    print(f"5 features: {names}")
    print(f"  intercept {model.intercept_:.1f}, test R^2 {model.score(X_test, y_test):.3f}")
    print(f"  solution: {model.solution_.optimality}, objective {model.solution_.objective:.6g}")

    cv = SparseLinearRegressionCV(cv=5, random_state=0).fit(X_train, y_train)
    print(f"cross-validation tried k = {cv.grid_.tolist()} and chose {cv.n_nonzero_coefs_}")
    print(f"  features {[data.feature_names[i] for i in cv.support_]}")
    print(f"  test R^2 {cv.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
