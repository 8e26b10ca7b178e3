import torch

from edgekit.compress.outputs import all_outputs, first_output, output_item


def test_single_and_tuple_outputs():
    a, b = torch.zeros(1), torch.ones(1)
    assert first_output(a) is a and first_output((a, b)) is a and first_output([b, a]) is b
    assert all_outputs(a) == (a,) and all_outputs((a, b)) == (a, b)
    # A module that returns its attention map alone stands for the map at any index.
    assert output_item(a, 1) is a and output_item((a, b), 1) is b
