"""AlphaGo's policy network and the Go board that feeds it: shapes, parameter count, the legal-move
mask, liberties and move features on hand-made positions."""
import numpy as np
import pytest
import torch

from course_lib import go
from course_lib.device import available_devices
from course_lib.models import get_model, list_models
from course_lib.models.alphago import AlphaGoPolicy, alphago_policy_params, masked_softmax

pytestmark = pytest.mark.ch6

DEVICES = [pytest.param(d, id=str(d)) for d in available_devices()]

# Black to play.  White's stone at (0, 0) is in atari (its liberty (1, 0) is free): Black captures
# there.  The point (0, 4) is surrounded by White with liberties to spare: suicide for Black.
POSITION = """
O X . O . O
. . . . O .
. X X . . .
. X O O . .
. . X X . .
. . . . . .
"""


def test_parameter_count_at_every_width():
    assert alphago_policy_params(192) == 3_882_793
    for k in (128, 192, 256, 384):
        net = AlphaGoPolicy(k=k)
        assert sum(p.numel() for p in net.parameters()) == alphago_policy_params(k)


def test_registered_and_layer_shapes():
    assert "alphago_policy" in list_models()
    net = get_model("alphago_policy", k=8)
    assert len(net.hidden) == 12
    assert net.hidden[0].kernel_size == (5, 5) and net.hidden[0].padding == (2, 2)
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in net.hidden[1:])
    assert net.head.kernel_size == (1, 1) and net.head.bias is None and net.position_bias.shape == (361,)
    x = torch.randn(2, 48, 19, 19)
    h = x
    for conv in net.hidden:  # padding to 23x23 then 21x21 keeps every hidden layer at 19x19
        h = torch.relu(conv(h))
        assert h.shape == (2, 8, 19, 19)
    p = net(x)
    assert p.shape == (2, 361)
    torch.testing.assert_close(p.sum(1), torch.ones(2))


def test_position_bias_is_per_point():
    net = AlphaGoPolicy(k=4, board_size=5)
    with torch.no_grad():
        net.head.weight.zero_()
        net.position_bias.copy_(torch.arange(25.0))
    torch.testing.assert_close(net.logits(torch.randn(1, 48, 5, 5)), torch.arange(25.0)[None])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_illegal_points_get_exactly_zero(device, dtype):
    torch.manual_seed(0)
    logits = (torch.randn(4, 361) * 1e4).to(device, dtype)  # huge logits overflow a naive exp
    legal = torch.rand(4, 361, device=device) < 0.3
    legal[:, 7] = True
    logits[:, 7] = -6e4 if dtype == torch.float16 else -1e30  # a legal point far below the others
    logits[~legal] = 6e4 if dtype == torch.float16 else 1e30  # illegal points with the largest scores
    p = masked_softmax(logits, legal)
    assert p.dtype == dtype and p.device.type == device.type
    assert torch.all(p[~legal] == 0)
    assert torch.isfinite(p).all()
    torch.testing.assert_close(p.double().sum(1), torch.ones(4, dtype=torch.float64, device=device),
                               rtol=1e-3, atol=1e-3)


def test_masked_softmax_matches_softmax_on_legal_points():
    torch.manual_seed(1)
    logits = torch.randn(3, 10, dtype=torch.float64)
    legal = torch.rand(3, 10) < 0.5
    legal[:, 0] = True
    expected = torch.stack([torch.zeros(10, dtype=torch.float64).masked_scatter(m, torch.softmax(row[m], 0))
                            for row, m in zip(logits, legal)])
    torch.testing.assert_close(masked_softmax(logits, legal), expected)


def test_masked_softmax_rejects_bad_masks():
    with pytest.raises(ValueError, match="no legal move"):
        masked_softmax(torch.randn(2, 5), torch.tensor([[True] * 5, [False] * 5]))
    with pytest.raises(TypeError, match="bool"):
        masked_softmax(torch.randn(2, 5), torch.ones(2, 5))


def test_network_masks_board_shaped_legal_moves():
    pos = go.parse_position(POSITION, to_play="X")
    net = AlphaGoPolicy(k=4, board_size=6)
    legal = go.legal_moves(pos)
    p = net(go.feature_planes(pos)[None], legal)
    assert torch.all(p.view(6, 6)[~legal] == 0) and torch.all(p.view(6, 6)[legal] > 0)
    with pytest.raises(ValueError, match="x must be"):
        net(torch.randn(1, 48, 7, 7))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="k must be"):
        AlphaGoPolicy(k=0)
    with pytest.raises(ValueError, match="square"):
        go.parse_position("..\n...")
    with pytest.raises(ValueError, match="unknown symbol"):
        go.parse_position(".#\n..")


def test_liberties_on_hand_made_positions():
    pos = go.parse_position(POSITION)
    libs = go.liberty_counts(pos.stones)
    assert libs[0, 0] == 1          # lone White corner stone, Black at (0, 1)
    assert libs[0, 1] == 2          # Black (0, 1): (0, 2), (1, 1)
    assert libs[1, 4] == 4          # White (1, 4): (1, 3), (1, 5), (2, 4), (0, 4)
    assert libs[0, 3] == 3 and libs[0, 5] == 2
    assert libs[2, 1] == libs[3, 1] == libs[2, 2] == 6  # Black chain: (1,1), (1,2), (2,0), (2,3), (3,0), (4,1)
    assert libs[3, 2] == libs[3, 3] == 2  # White pair: (2,3), (3,4)
    assert libs[4, 2] == libs[4, 3] == 4
    assert np.all(libs[pos.stones == 0] == 0)
    planes = go.one_hot_counts(libs, 4)
    assert planes[:, 1, 4].tolist() == [0, 0, 0, 1]   # ">= 4"
    assert planes[:, 2, 1].tolist() == [0, 0, 0, 1]
    assert planes[:, 0, 0].tolist() == [1, 0, 0, 0]
    assert planes[:, 5, 5].sum() == 0


def test_legal_moves_suicide_and_capture():
    pos = go.parse_position(POSITION, to_play="X")
    legal = go.legal_moves(pos)
    assert legal.dtype == torch.bool and legal.shape == (6, 6)
    assert not legal[pos.stones != 0].any()
    assert legal[1, 0]                  # captures White's corner stone
    assert not legal[0, 4]              # suicide: White around, no capture
    assert int(legal.sum()) == int((pos.stones == 0).sum()) - 1
    # White may play (0, 4): it joins its own stones
    assert go.legal_moves(go.parse_position(POSITION, to_play="O"))[0, 4]
    # a point whose only neighbours are in atari: playing it captures, so it is legal
    corner = go.parse_position("""
    . O X
    O X .
    X . .
    """, to_play="X")
    assert go.legal_moves(corner)[0, 0]
    result = go.play(corner.stones, 0, 0, 1)
    assert result.captured == 2 and result.stones[0, 1] == 0 and result.stones[1, 0] == 0


def test_feature_planes():
    ages = np.zeros((6, 6), dtype=int)
    ages[4, 3], ages[3, 3] = 1, 2
    pos = go.parse_position(POSITION, to_play="X", ages=ages)
    planes = go.feature_planes(pos)
    assert planes.shape == (go.NUM_PLANES, 6, 6) == (48, 6, 6)
    assert planes.dtype == torch.float32
    torch.testing.assert_close(planes[0], torch.from_numpy((pos.stones == 1).astype(np.float32)))
    torch.testing.assert_close(planes[1], torch.from_numpy((pos.stones == -1).astype(np.float32)))
    torch.testing.assert_close(planes[:3].sum(0), torch.ones(6, 6))
    assert torch.all(planes[3] == 1)
    assert planes[4, 4, 3] == 1 and planes[5, 3, 3] == 1 and planes[4:12].sum() == 2     # turns since
    assert planes[12, 0, 0] == 1 and planes[15, 1, 4] == 1                                # liberties 1, 4
    assert planes[20 + 1, 1, 0] == 1        # capture size 1 at (1, 0)
    assert planes[20, 5, 5] == 1            # capture size 0 on an ordinary legal point
    assert planes[20:28, 0, 4].sum() == 0   # illegal point: no move features
    # White to play: (0, 2) is a self-atari of one stone with one liberty; (0, 0) is suicide
    small = go.feature_planes(go.parse_position(". X .\nX . .\n. . .", to_play="O"))
    assert small[28, 0, 2] == 1 and small[28:36, 0, 2].sum() == 1
    assert small[36, 0, 2] == 1             # liberties after move: 1
    assert small[36:44, 1, 1].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]  # (1, 1): two liberties
    assert small[20:, 0, 0].sum() == 0
    assert torch.all(planes[44:46] == 0) and torch.all(planes[47] == 0)
    torch.testing.assert_close(planes[46].bool(), go.legal_moves(pos))  # no own eyes here
    flipped = go.feature_planes(go.parse_position(POSITION, to_play="O"))
    torch.testing.assert_close(flipped[0], planes[1])
