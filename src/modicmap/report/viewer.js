// modicmap report viewer: wires the vendored NiiVue (window.niivue) to the page's controls.
// NiiVue draws every pixel; this file only loads the embedded volumes, switches T1 / T2,
// keeps a second (T2) pane on the same slice when shown side by side, and places the level
// names over the canvases.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("modicmap-data").textContent);
  const status = document.getElementById("viewer-status");
  const MODIC_LUT = {
    R: [0, 230, 250, 51], G: [0, 41, 204, 115], B: [0, 41, 26, 242], A: [0, 255, 255, 255],
    I: [0, 1, 2, 3], labels: ["", "Modic type 1", "Modic type 2", "Modic type 3"],
  };
  const TITLES = { t1: "T1", t2: "T2 (registered)" };
  function outlineLut() {
    const codes = Object.keys(data.vertebra_names).map(Number).sort((a, b) => a - b);
    const lut = { R: [0], G: [0], B: [0], A: [0], I: [0], labels: [""] };
    for (const code of codes) {
      lut.R.push(95); lut.G.push(211); lut.B.push(95); lut.A.push(255);
      lut.I.push(code); lut.labels.push(data.vertebra_names[code]);
    }
    return lut;
  }
  // NiiVue's voxel helpers work on its RAS-resliced copy; our points are voxels (x, y, z) of
  // the canonical grid (x posterior, y inferior, z right, origin 0) as written, so go by mm.
  const [sz, sy, sx] = data.spacing_zyx;
  const voxToMm = (v) => [v[2] * sz, -v[0] * sx, -v[1] * sy];
  const mmToVox = (m) => [-m[1] / sx, -m[2] / sy, m[0] / sz];
  const panes = []; // [main pane, side pane (T2) once shown side by side]
  const overlay = { 1: [true, 0.7], 2: [true, 0.8] }; // volume index -> [visible, opacity]
  let showing = "t1"; // the main pane's background: "t1" or "t2"

  const viewer = {
    ready: false,
    panes,
    slice() {
      if (!panes.length) return 0;
      const nv = panes[0].nv;
      return Math.round(mmToVox(nv.frac2mm(nv.scene.crosshairPos))[2]);
    },
    moveTo(voxel) {
      for (const { nv } of panes) {
        nv.scene.crosshairPos = nv.mm2frac(voxToMm(voxel));
        nv.drawScene(); // a redraw only: updateGLVolume would rebuild every layer
      }
      showSlice();
    },
    setSlice(k) {
      const nv = panes[0].nv;
      const v = mmToVox(nv.frac2mm(nv.scene.crosshairPos));
      viewer.moveTo([v[0], v[1], Math.max(0, Math.min(data.slices - 1, k))]);
    },
    jump(level, endplate) {
      const target = data.targets.find((t) => t.level === level && t.endplate === endplate)
        || data.targets.find((t) => t.level === level);
      if (target) viewer.moveTo(target.voxel);
      return Boolean(target);
    },
    setOverlay(index, visible, opacity) {
      overlay[index] = [visible, opacity];
      for (const { nv } of panes) nv.setOpacity(index, visible ? opacity : 0);
    },
    zoom(factor) {
      for (const { nv } of panes) {
        const p = nv.scene.pan2Dxyzmm;
        nv.setPan2Dxyzmm(factor ? [p[0], p[1], p[2], p[3] * factor] : [0, 0, 0, 1]);
      }
    },
    async layout(value) {
      // "t1" or "t2": one pane (one WebGL context: cheap to open without a GPU);
      // "both": T1 in the main pane and T2 in a second pane, made on first use
      const side = document.getElementById("pane-b");
      if (value === "both" && panes.length < 2) {
        side.style.display = "";
        const pane = await makePane("b", "t2");
        pane.nv.scene.crosshairPos = [...panes[0].nv.scene.crosshairPos];
        pane.nv.scene.pan2Dxyzmm = [...panes[0].nv.scene.pan2Dxyzmm];
        for (const [index, [visible, opacity]] of Object.entries(overlay)) {
          pane.nv.setOpacity(Number(index), visible ? opacity : 0);
        }
        panes.push(pane);
        panes[0].nv.broadcastTo(pane.nv, { "2d": true, "3d": true, zoomPan: true });
        pane.nv.broadcastTo(panes[0].nv, { "2d": true, "3d": true, zoomPan: true });
      }
      side.style.display = value === "both" ? "" : "none";
      showBackground(value === "t2" ? "t2" : "t1");
      for (const { nv } of panes) nv.resizeListener();
      document.getElementById("layout").value = value;
    },
  };
  window.modicmapViewer = viewer;

  function showSlice() {
    const k = viewer.slice();
    document.getElementById("slice").value = String(k + 1);
    document.getElementById("slice-label").textContent = `${k + 1} / ${data.slices}`;
  }

  function showBackground(sequence) {
    const pane = panes[0];
    if (sequence === showing) return;
    pane.nv.volumes[0] = pane.images[sequence];
    pane.nv.setVolume(pane.images[sequence], 0);
    pane.title.textContent = TITLES[sequence];
    showing = sequence;
  }

  function placeNames(pane) {
    // The level names follow zoom and pan: NiiVue maps a voxel to canvas pixels.
    const dpr = window.devicePixelRatio || 1;
    const k = viewer.slice();
    for (const [name, point] of Object.entries(data.name_points)) {
      let span = pane.names.querySelector(`[data-name="${name}"]`);
      if (!span) {
        span = document.createElement("span");
        span.dataset.name = name;
        span.textContent = name;
        pane.names.appendChild(span);
      }
      const pos = pane.nv.frac2canvasPos(pane.nv.mm2frac(voxToMm([point[0], point[1], k])));
      span.style.display = pos ? "" : "none";
      if (pos) {
        span.style.left = `${pos[0] / dpr}px`;
        span.style.top = `${pos[1] / dpr}px`;
      }
    }
  }

  function decode(key, opacity, max) {
    return niivue.NVImage.loadFromBase64({
      base64: data.volumes[key], name: `${key}.nii.gz`, colormap: "gray", opacity,
      // the volumes are 8-bit, already scaled (viewer.py): no percentile search on load
      cal_min: 0, cal_max: max, trustCalMinMax: true,
    });
  }

  async function makePane(id, sequence) {
    const canvas = document.getElementById(`gl-${id}`);
    const nv = new niivue.Niivue({
      backColor: [0, 0, 0, 1],
      crosshairColor: [0.2, 0.6, 1, 0.45],
      crosshairWidth: document.getElementById("show-crosshair").checked ? 1 : 0,
      isColorbar: false,
      show3Dcrosshair: false,
      isOrientationTextVisible: true,
      dragMode: niivue.DRAG_MODE[document.getElementById("drag-mode").value],
      sagittalNoseLeft: true, // anterior left, as in the static figures
    });
    const decoded = Promise.all([
      decode(sequence, 1, 255),
      id === "a" ? decode("t2", 1, 255) : null,
      decode("modic", 0.7, 3),
      decode("outlines", 0.8, 26),
    ]);
    await nv.attachToCanvas(canvas);
    // sagittal before any volume: the default layout also renders 3-D, costly without a GPU
    nv.setSliceType(niivue.SLICE_TYPE.SAGITTAL);
    const [background, t2, modic, outlines] = await decoded;
    modic.setColormapLabel(MODIC_LUT);
    outlines.setColormapLabel(outlineLut());
    // one layer build for all three volumes: addVolume, then setVolume to put the background
    // first, would build every layer twice (the costliest step without a GPU)
    nv.volumes.push(background, modic, outlines);
    nv.setVolume(background, 0);
    const pane = {
      nv,
      images: { [sequence]: background, ...(t2 ? { t2 } : {}) },
      names: document.getElementById(`names-${id}`),
      title: document.querySelector(`#pane-${id} .pane-title`),
    };
    pane.title.textContent = TITLES[sequence];
    // NiiVue has no after-draw event: wrap drawScene so the names follow every redraw.
    const draw = nv.drawScene.bind(nv);
    nv.drawScene = () => {
      const out = draw();
      placeNames(pane);
      return out;
    };
    nv.onLocationChange = (location) => {
      showSlice();
      if (location && location.string) status.textContent = location.string;
    };
    return pane;
  }

  function wire() {
    const slider = document.getElementById("slice");
    slider.addEventListener("input", () => viewer.setSlice(Number(slider.value) - 1));
    document.getElementById("layout").addEventListener("change", (e) => viewer.layout(e.target.value));
    document.addEventListener("keydown", (e) => {
      const typing = ["SELECT", "TEXTAREA"].includes(e.target.tagName) || e.target.type === "text";
      if (e.key !== "t" || typing || e.ctrlKey || e.metaKey || e.altKey) return;
      const value = document.getElementById("layout").value;
      if (value !== "both") viewer.layout(value === "t1" ? "t2" : "t1");
    });
    document.getElementById("drag-mode").addEventListener("change", (e) => {
      for (const { nv } of panes) nv.opts.dragMode = niivue.DRAG_MODE[e.target.value];
    });
    // the levels and endplates tables: a click jumps to the row's best slice
    for (const tr of document.querySelectorAll("table:not(#review-table) tr[data-level]")) {
      tr.addEventListener("click", () => {
        if (viewer.jump(tr.dataset.level, tr.dataset.endplate)) {
          document.getElementById("viewer").scrollIntoView({ block: "nearest" });
        }
      });
    }
    document.getElementById("show-crosshair").addEventListener("change", (e) => {
      for (const { nv } of panes) nv.setCrosshairWidth(e.target.checked ? 1 : 0);
    });
    document.getElementById("zoom-in").addEventListener("click", () => viewer.zoom(1.25));
    document.getElementById("zoom-out").addEventListener("click", () => viewer.zoom(0.8));
    document.getElementById("reset-view").addEventListener("click", () => viewer.zoom(0));
    for (const [index, box, range] of [[1, "show-modic", "modic-opacity"], [2, "show-outlines", "outline-opacity"]]) {
      const update = () => viewer.setOverlay(
        index, document.getElementById(box).checked, Number(document.getElementById(range).value) / 100);
      document.getElementById(box).addEventListener("change", update);
      document.getElementById(range).addEventListener("input", update);
    }
  }

  async function start() {
    try {
      panes.push(await makePane("a", "t1"));
      wire();
      const first = data.targets.find((t) => t.endplate === "level");
      if (first) viewer.moveTo(first.voxel); else viewer.setSlice(Math.floor(data.slices / 2));
      viewer.ready = true;
      document.dispatchEvent(new Event("modicmap-viewer-ready"));
    } catch (error) {
      status.textContent = `The viewer could not start (${error}); the figures below still show the map.`;
      console.warn("modicmap viewer:", error);
    }
  }
  // after the load event: the page (tables, figures) is laid out and painted first, and the
  // viewer's WebGL work does not hold up the rest of the document's parsing
  if (document.readyState === "complete") start();
  else window.addEventListener("load", () => setTimeout(start, 0), { once: true });
})();
