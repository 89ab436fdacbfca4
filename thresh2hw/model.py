"""The integer threshold network: THE reference model and the hand-off from training to hardware.

Everything downstream of quantization (the circuit generator, the simulators, the checkers) is
defined by :meth:`IntegerNetwork.forward`. It uses only numpy int64 arithmetic; every value range
is bounded by :func:`IntegerNetwork.check_ranges` so int64 can never overflow.

Semantics
---------
* Inputs are unsigned ``input_bits``-bit integers ``q`` of shape ``(n, n_features)``.
* Hidden layer ``l`` computes ``h = 1[W q >= T]`` (``>=``: a sum exactly at the threshold fires).
  Layer 0 reads the integer inputs, later layers read the previous layer's 0/1 bits.
* The output layer computes integer scores ``s = V h_last + c``.
* ``task == "multiclass"``: the prediction is ``argmax(s)``; ties go to the lowest class index.
  ``task == "binary"``: one score; the prediction is class 1 if ``s >= 0`` else class 0.
  ``task == "regression"``: the prediction is the integer score itself; ``score_scale`` maps it
  back to the target's units (``y ≈ s * score_scale``).
"""
import json
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ModelFormatError", "InputQuantizer", "ThresholdLayer", "OutputLayer",
           "IntegerNetwork", "FORMAT_NAME", "FORMAT_VERSION", "MAX_INPUT_BITS"]

FORMAT_NAME = "thresh2hw-network"
FORMAT_VERSION = 1
TASKS = ("multiclass", "binary", "regression")
#: Widest input code: the quantizer and the training pipeline support up to 24 bits (the
#: ``thresh2hw train --input-bits`` limit is this same constant).
MAX_INPUT_BITS = 24


class ModelFormatError(ValueError):
    """A model file or model object is malformed."""


def _has_bool(value):
    # JSON true/false parse to bool, an int subclass: numpy and isinstance(v, int) accept them
    # silently (and [true, 2] becomes an int array), so they are looked for in the raw value.
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, (list, tuple)) and any(map(_has_bool, value))


def _no_bool(value, what):
    if _has_bool(value):
        raise ModelFormatError(f"{what} must hold numbers, not true/false")
    return value


def _field(d, key, where=""):
    """``d[key]`` of a JSON object, else a ModelFormatError naming the field by its path in the
    file (``output_layer.bias``), not a bare KeyError."""
    name = f"{where}.{key}" if where else key
    if not isinstance(d, dict):
        raise ModelFormatError(f"malformed model file: {where or 'the top level'} must be a "
                               f"JSON object, not {json.dumps(d, default=repr)[:40]}")
    if key not in d:
        raise ModelFormatError(f"malformed model file: missing field {name!r}")
    return d[key]


def _int_field(d, key, what=None):
    """``d[key]`` as a plain int (not a bool, not a float), else ModelFormatError."""
    v = _field(d, key)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise ModelFormatError(f"{what or repr(key)} must be an integer, not "
                               f"{json.dumps(v, default=repr)}")
    return int(v)


def _out_of_int64(value):
    """The first JSON integer in ``value`` (nested lists) that int64 cannot hold, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if not -2 ** 63 <= value < 2 ** 63 else None
    if isinstance(value, (list, tuple)):
        return next((v for v in map(_out_of_int64, value) if v is not None), None)
    return None


def _int_array(value, ndim, what):
    _no_bool(value, what)
    big = _out_of_int64(value)                          # numpy would make an object array
    if big is not None:
        raise ModelFormatError(f"{what} holds {big}, outside the int64 range (model values "
                               f"must have magnitude below 2^40)")
    try:
        arr = np.asarray(value)
    except Exception:                                   # ragged lists and the like
        raise ModelFormatError(f"{what} is not a rectangular array") from None
    if arr.ndim != ndim:
        raise ModelFormatError(f"{what} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
            raise ModelFormatError(f"{what} must hold integers")
    if arr.size and np.abs(arr.astype(np.float64)).max() >= 2.0 ** 40:
        raise ModelFormatError(f"{what} holds values of magnitude 2^40 or more")
    return arr.astype(np.int64).reshape(arr.shape)


@dataclass(frozen=True)
class InputQuantizer:
    """Per-feature affine map from real features to unsigned ``bits``-bit integers.

    ``q = clip(round((x - low) / step), 0, 2^bits - 1)`` with round-half-up. ``low`` and
    ``step`` are fitted on training data so the training range maps onto ``[0, 2^bits - 1]``;
    values outside the fitted range saturate at 0 or ``2^bits - 1``. A constant feature gets
    ``step = 1`` and maps to 0.
    """
    low: np.ndarray
    step: np.ndarray
    bits: int

    @classmethod
    def fit(cls, X, bits=8):
        X = np.asarray(X, dtype=np.float64)
        lo, hi = X.min(axis=0), X.max(axis=0)
        span = hi - lo
        step = np.where(span > 0, span / (2 ** bits - 1), 1.0)
        return cls(low=lo, step=step, bits=int(bits))

    @property
    def max_code(self):
        return (1 << self.bits) - 1

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        q = np.floor((X - self.low) / self.step + 0.5)
        return np.clip(q, 0, self.max_code).astype(np.int64)

    def inverse(self, Q):
        """Real value represented by each code."""
        return self.low + self.step * np.asarray(Q, dtype=np.float64)

    def to_dict(self):
        return {"bits": self.bits, "low": self.low.tolist(), "step": self.step.tolist()}

    @classmethod
    def from_dict(cls, d, n_features):
        try:
            low = np.asarray(_no_bool(_field(d, "low", "input_quantizer"),
                                      "input_quantizer low"), dtype=np.float64)
            step = np.asarray(_no_bool(_field(d, "step", "input_quantizer"),
                                       "input_quantizer step"), dtype=np.float64)
            bits = _int_field(d, "bits", "input_quantizer bits")
        except ModelFormatError:
            raise
        except (KeyError, TypeError, ValueError):
            raise ModelFormatError("input_quantizer needs numeric 'bits', 'low' and 'step'") \
                from None
        if low.shape != (n_features,) or step.shape != (n_features,):
            raise ModelFormatError("input_quantizer low/step length must equal n_features")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(step)) and np.all(step > 0)):
            raise ModelFormatError("input_quantizer low/step must be finite, step positive")
        return cls(low=low, step=step, bits=bits)


@dataclass(frozen=True)
class ThresholdLayer:
    """``h = 1[W x >= T]``: ``W`` int64 (n_out, n_in), ``T`` int64 (n_out,)."""
    weights: np.ndarray
    thresholds: np.ndarray

    @property
    def n_out(self):
        return self.weights.shape[0]

    @property
    def n_in(self):
        return self.weights.shape[1]

    def forward(self, x):
        return (x @ self.weights.T >= self.thresholds).astype(np.int64)


@dataclass(frozen=True)
class OutputLayer:
    """``s = V h + c``: ``V`` int64 (n_scores, n_hidden), ``c`` int64 (n_scores,)."""
    weights: np.ndarray
    bias: np.ndarray

    def forward(self, h):
        return h @ self.weights.T + self.bias


@dataclass(frozen=True)
class IntegerNetwork:
    """A quantized threshold network. See the module docstring for the exact semantics.

    Attributes
    ----------
    task : {"multiclass", "binary", "regression"}
    input_bits : int
    hidden : tuple of ThresholdLayer
    output : OutputLayer
    classes : list
        Label of each class index (classification); empty for regression.
    input_quantizer : InputQuantizer or None
        How real features become the integer inputs (None: inputs are given as integers).
    score_scale : float
        Regression only: target ≈ score * score_scale.
    meta : dict
        Free-form provenance (training settings, accuracies); not used by ``forward``.
    """
    task: str
    input_bits: int
    hidden: tuple
    output: OutputLayer
    classes: list = field(default_factory=list)
    input_quantizer: InputQuantizer | None = None
    score_scale: float = 1.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        # plain Python labels (not numpy scalars) so every JSON writer can handle them
        object.__setattr__(self, "classes", [_json_label(c) for c in self.classes])
        self.validate()

    # -- structure ---------------------------------------------------------------------------
    @property
    def n_features(self):
        return self.hidden[0].n_in

    @property
    def n_scores(self):
        return self.output.weights.shape[0]

    @property
    def n_classes(self):
        return {"multiclass": self.n_scores, "binary": 2, "regression": 0}[self.task]

    @property
    def max_input(self):
        return (1 << self.input_bits) - 1

    def validate(self):
        if self.task not in TASKS:
            raise ModelFormatError(f"task must be one of {TASKS}, not {self.task!r}")
        if (isinstance(self.input_bits, bool) or not isinstance(self.input_bits, int)
                or not 1 <= self.input_bits <= MAX_INPUT_BITS):
            raise ModelFormatError(f"input_bits must be an integer in 1..{MAX_INPUT_BITS}, "
                                   f"not {self.input_bits!r}")
        if not self.hidden:
            raise ModelFormatError("the network needs at least one hidden layer")
        n_in = self.hidden[0].n_in
        if n_in < 1:
            raise ModelFormatError("the network needs at least one input feature")
        for i, layer in enumerate(self.hidden):
            if layer.weights.ndim != 2 or layer.thresholds.shape != (layer.n_out,):
                raise ModelFormatError(f"hidden layer {i}: thresholds must have one entry per "
                                       f"neuron")
            if layer.n_in != n_in:
                raise ModelFormatError(f"hidden layer {i} expects {layer.n_in} inputs, "
                                       f"previous layer gives {n_in}")
            if layer.n_out < 1:
                raise ModelFormatError(f"hidden layer {i} has no neurons")
            n_in = layer.n_out
        V, c = self.output.weights, self.output.bias
        if V.ndim != 2 or V.shape[1] != n_in or c.shape != (V.shape[0],):
            raise ModelFormatError(f"output layer must be (n_scores, {n_in}) weights with one "
                                   f"bias per score")
        want = {"binary": 1, "regression": 1}.get(self.task)
        if want is not None and V.shape[0] != want:
            raise ModelFormatError(f"a {self.task} network has exactly one output score")
        if self.task == "multiclass" and V.shape[0] < 2:
            raise ModelFormatError("a multiclass network needs at least two classes")
        if self.task != "regression" and self.classes and len(self.classes) != self.n_classes:
            raise ModelFormatError(f"classes lists {len(self.classes)} labels for "
                                   f"{self.n_classes} classes")
        if not (isinstance(self.score_scale, (int, float))
                and not isinstance(self.score_scale, bool) and np.isfinite(self.score_scale)
                and self.score_scale > 0):
            raise ModelFormatError(f"score_scale must be a positive finite number, "
                                   f"not {self.score_scale!r}")
        if self.input_quantizer is not None and self.input_quantizer.bits != self.input_bits:
            raise ModelFormatError("input_quantizer bits differ from input_bits")
        self.check_ranges()

    def check_ranges(self):
        """Bound every intermediate value; refuse networks whose sums could leave int64."""
        x_max = self.max_input
        for layer in self.hidden:
            bound = (np.abs(layer.weights.astype(np.float64)).sum(axis=1) * x_max
                     + np.abs(layer.thresholds.astype(np.float64)))   # float: no wrap-around
            if bound.size and bound.max() >= 2 ** 62:
                raise ModelFormatError("weights too large: a neuron sum could overflow int64")
            x_max = 1
        bound = (np.abs(self.output.weights.astype(np.float64)).sum(axis=1)
                 + np.abs(self.output.bias.astype(np.float64)))
        if bound.max() >= 2 ** 62:
            raise ModelFormatError("output weights too large: a score could overflow int64")

    # -- the reference forward pass ------------------------------------------------------------
    def check_inputs(self, Q):
        """Return ``Q`` as int64 (n, n_features), or raise ValueError naming the problem."""
        Q = np.asarray(Q)
        if Q.ndim == 1:
            Q = Q[None, :]
        if Q.ndim != 2 or Q.shape[1] != self.n_features:
            raise ValueError(f"expected integer inputs with {self.n_features} features, "
                             f"got shape {Q.shape}")
        if Q.size and not np.issubdtype(Q.dtype, np.integer):
            if not (np.all(np.isfinite(Q)) and np.all(Q == np.round(Q))):
                raise ValueError("integer inputs must hold whole numbers")
        Q = Q.astype(np.int64)
        if Q.size and (Q.min() < 0 or Q.max() > self.max_input):
            raise ValueError(f"integer inputs must lie in 0..{self.max_input} "
                             f"({self.input_bits}-bit unsigned)")
        return Q

    def hidden_bits(self, Q):
        """List of 0/1 int64 arrays, one per hidden layer."""
        x = self.check_inputs(Q)
        out = []
        for layer in self.hidden:
            x = layer.forward(x)
            out.append(x)
        return out

    def scores(self, Q):
        return self.output.forward(self.hidden_bits(Q)[-1])

    def forward(self, Q):
        """Integer predictions: class index (classification) or integer score (regression)."""
        return self.decide(self.scores(Q))

    def decide(self, s):
        if self.task == "multiclass":
            return np.argmax(s, axis=1).astype(np.int64)   # argmax returns the first maximum
        if self.task == "binary":
            return (s[:, 0] >= 0).astype(np.int64)
        return s[:, 0].astype(np.int64)

    def predict_labels(self, X):
        """Predictions for real-valued features, through the input quantizer."""
        if self.input_quantizer is None:
            raise ValueError("this model has no input quantizer; pass integer inputs to forward")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got shape {X.shape}")
        y = self.forward(self.input_quantizer.transform(X))
        if self.task == "regression":
            return y * self.score_scale
        if self.classes:
            return np.asarray(self.classes, dtype=object)[y]
        return y

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self):
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "task": self.task,
            "input_bits": self.input_bits,
            "n_features": self.n_features,
            "hidden_layers": [{"weights": l.weights.tolist(), "thresholds": l.thresholds.tolist()}
                              for l in self.hidden],
            "output_layer": {"weights": self.output.weights.tolist(),
                             "bias": self.output.bias.tolist()},
            "classes": [_json_label(c) for c in self.classes],
            "input_quantizer": None if self.input_quantizer is None
            else self.input_quantizer.to_dict(),
            "score_scale": float(self.score_scale),
            "meta": self.meta,
        }

    def to_json(self):
        """Canonical JSON text: same network, same bytes."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True, default=_json_scalar) + "\n"

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise ModelFormatError(f"not a thresh2hw model (missing format: {FORMAT_NAME!r})")
        version = d.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ModelFormatError("model file has no integer 'version'")
        if version > FORMAT_VERSION:
            raise ModelFormatError(f"model file version {version} is newer than this thresh2hw "
                                   f"supports ({FORMAT_VERSION}); upgrade thresh2hw")
        if version < 1:
            raise ModelFormatError(f"invalid model file version {version}")
        try:
            layers = _field(d, "hidden_layers")
            if not isinstance(layers, list):
                raise ModelFormatError("hidden_layers must be a list of layers")
            hidden = tuple(
                ThresholdLayer(_int_array(_field(l, "weights", f"hidden_layers[{i}]"), 2,
                                          f"hidden layer {i} weights"),
                               _int_array(_field(l, "thresholds", f"hidden_layers[{i}]"), 1,
                                          f"hidden layer {i} thresholds"))
                for i, l in enumerate(layers))
            out = _field(d, "output_layer")
            output = OutputLayer(_int_array(_field(out, "weights", "output_layer"), 2,
                                            "output weights"),
                                 _int_array(_field(out, "bias", "output_layer"), 1,
                                            "output bias"))
            n_features = _int_field(d, "n_features")
            iq = d.get("input_quantizer")
            net = cls(task=_field(d, "task"), input_bits=_int_field(d, "input_bits"),
                      hidden=hidden,
                      output=output, classes=list(d.get("classes", [])),
                      input_quantizer=None if iq is None
                      else InputQuantizer.from_dict(iq, n_features),
                      score_scale=float(_no_bool(d.get("score_scale", 1.0), "score_scale")),
                      meta=dict(d.get("meta", {})))
        except ModelFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFormatError(f"malformed model file ({type(exc).__name__}: {exc})") \
                from None
        if net.n_features != n_features:
            raise ModelFormatError(f"n_features says {n_features} but layer 0 has "
                                   f"{net.n_features} inputs")
        return net

    @classmethod
    def from_json(cls, text):
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelFormatError(f"model file is not valid JSON ({exc.msg} at line "
                                   f"{exc.lineno})" if hasattr(exc, "msg") else
                                   "model file is not valid JSON") from None
        return cls.from_dict(d)

    def save(self, path):
        from ._io import write_text_atomic
        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ModelFormatError(f"cannot read model file {path}: {exc.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFormatError(f"model file {path} is not UTF-8 text") from None
        return cls.from_json(text)


def _json_scalar(o):
    """numpy scalars in ``meta`` become plain JSON numbers."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _json_label(c):
    if isinstance(c, (np.integer,)):
        return int(c)
    if isinstance(c, (np.floating,)):
        return float(c)
    if isinstance(c, np.str_):
        return str(c)
    return c
