"""A1111's grid scripts over the API: `script_name: "x/y/z plot"` with its script_args, and the prompt matrix."""

from __future__ import annotations

import httpx
import webuiapi

from tests.api.conftest import Live


def test_xyz_plot_and_prompt_matrix_through_the_api(live: Live) -> None:
    api = webuiapi.WebUIApi(host="127.0.0.1", port=live.port, sampler="Euler a", steps=2)
    # A1111 1.6+ layout: x_type, x_values, x_dropdown, y..., z..., draw_legend, include_lone_images, ...
    args = [4, "1,2", [], 6, "3, 7", [], 0, "", [], True, True, False, False, 0, False, False]
    res = api.txt2img(
        prompt="a tower",
        seed=8,
        width=64,
        height=64,
        script_name="x/y/z plot",
        script_args=args,
        save_images=True,  # webuiapi sends false by default, and then (as A1111) nothing is saved
    )
    grid, cells = res.images[0], res.images[1:]
    assert len(cells) == 4 and all(c.size == (64, 64) for c in cells)
    assert grid.width > 128 and grid.height > 128  # two cells each way and the labels
    assert "Steps: 2" in res.info["infotexts"][2] and "CFG scale: 3" in res.info["infotexts"][2]
    assert live.store.count("tower") == 5  # every cell and the grid landed in the gallery
    listed = httpx.get(f"{live.url}/sdapi/v1/scripts").json()
    assert "x/y/z plot" in listed["txt2img"] and "prompt matrix" in listed["img2img"]

    # the prompt matrix, and scripts or axes this server refuses (one live server: one model load)
    base = {"prompt": "a boat|at sea", "seed": 2, "width": 64, "height": 64, "steps": 2}
    res = httpx.post(
        f"{live.url}/sdapi/v1/txt2img", json=base | {"script_name": "prompt matrix"}, timeout=120
    )
    assert res.status_code == 200 and len(res.json()["images"]) == 1
    for body, text in (
        ({"script_name": "loopback"}, "unknown script 'loopback'"),
        ({"script_name": "x/y/z plot", "script_args": [13, "a,b"]}, "unsupported X/Y/Z axis 'Sigma Churn'"),
        ({"script_name": "x/y/z plot", "script_args": ["Steps", "1-30"]}, "over this server's limit"),
        ({"script_name": "x/y/z plot", "script_args": ["Size", "256x256"]}, "over this server's limits"),
    ):
        bad = httpx.post(f"{live.url}/sdapi/v1/txt2img", json=base | body)
        assert bad.status_code == 422 and text in bad.json()["detail"], bad.text
