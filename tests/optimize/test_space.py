"""What a search may try, from the target's profile."""
from edgekit.compress import Int8StaticConfig
from edgekit.optimize.space import SearchSpace
from edgekit.profiles import load_profile


def test_mixed_precision_is_searched_where_the_target_computes_float_too():
    pi = SearchSpace.for_profile(load_profile("emu-rpi4-x86"), labelled=False, min_cosine=0.995)
    assert "int8-mixed" in pi.quantization
    assert pi.recipe_for({"quantization": "int8-mixed"}) == [Int8StaticConfig(min_cosine=0.995)]
    assert SearchSpace.for_profile(load_profile("emu-phone"), labelled=False).mixed_min_cosine == 0.99
    assert "int8-mixed" not in SearchSpace.for_profile(load_profile("emu-cortex-m4"), labelled=False).quantization
