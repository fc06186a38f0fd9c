"""The PyTorch BBNN matches SPEC.md's structure: parameter counts, shapes, initialisation."""

import torch

from model.bbnn import BBNN, count_trainable


def test_parameter_counts_match_spec():
    assert count_trainable(BBNN(10)) == 185_642
    assert count_trainable(BBNN(8)) == 185_576
    assert count_trainable(BBNN(13)) == 185_741


def test_forward_shapes_and_dense_embedding():
    model = BBNN(10).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 647, 128), return_dense=True)
        short = model(torch.randn(3, 647, 128))
    assert out.logits.shape == (2, 10)
    assert out.embedding.shape == (2, 32)
    assert out.dense.shape == (2, 416)
    assert short.dense is None and short.logits.shape == (3, 10)
    assert (out.embedding >= 0).all()  # after the final ReLU


def test_keras_style_initialisation_and_batchnorm_settings():
    model = BBNN(10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 3 * 6 + 1
    assert all(float(c.bias.abs().sum()) == 0 for c in convs)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(b.eps == 1e-3 and b.momentum == 0.01 for b in bns)


def test_replace_classifier_keeps_features():
    model = BBNN(10)
    before = model.stem_conv.weight.clone()
    model.replace_classifier(4)
    assert model.classifier.out_features == 4 and model.n_classes == 4
    assert torch.equal(model.stem_conv.weight, before)
