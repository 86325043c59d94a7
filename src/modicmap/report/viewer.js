// modicmap report viewer: wires the vendored NiiVue (window.niivue) to the page's controls.
// NiiVue draws every pixel; this file only loads the embedded volumes, keeps the T1 and T2
// panes on the same slice, and places the level names over the canvases.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("modicmap-data").textContent);
  const status = document.getElementById("viewer-status");
  const MODIC_LUT = {
    R: [0, 230, 250, 51], G: [0, 41, 204, 115], B: [0, 41, 26, 242], A: [0, 255, 255, 255],
    I: [0, 1, 2, 3], labels: ["", "Modic type 1", "Modic type 2", "Modic type 3"],
  };
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
  const panes = [];
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
        nv.updateGLVolume();
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
      for (const { nv } of panes) nv.setOpacity(index, visible ? opacity : 0);
    },
    zoom(factor) {
      for (const { nv } of panes) {
        const p = nv.scene.pan2Dxyzmm;
        nv.setPan2Dxyzmm(factor ? [p[0], p[1], p[2], p[3] * factor] : [0, 0, 0, 1]);
      }
    },
  };
  window.modicmapViewer = viewer;

  function showSlice() {
    const k = viewer.slice();
    document.getElementById("slice").value = String(k + 1);
    document.getElementById("slice-label").textContent = `${k + 1} / ${data.slices}`;
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

  async function makePane(sequence) {
    const canvas = document.getElementById(`gl-${sequence}`);
    const nv = new niivue.Niivue({
      backColor: [0, 0, 0, 1],
      crosshairColor: [0.2, 0.6, 1, 0.6],
      crosshairWidth: 1,
      isColorbar: false,
      show3Dcrosshair: false,
      isOrientationTextVisible: true,
      dragMode: niivue.DRAG_MODE.contrast,
      sagittalNoseLeft: true, // anterior left, as in the static figures
    });
    const volumes = [
      { key: sequence, colormap: "gray", opacity: 1, max: 255 },
      { key: "modic", colormap: "gray", opacity: 0.7, lut: MODIC_LUT, max: 3 },
      { key: "outlines", colormap: "gray", opacity: 0.8, lut: outlineLut(), max: 26 },
    ];
    const decoded = Promise.all(volumes.map((v) => niivue.NVImage.loadFromBase64({
      base64: data.volumes[v.key], name: `${v.key}.nii.gz`, colormap: v.colormap, opacity: v.opacity,
      // the volumes are 8-bit already scaled (viewer.py): no percentile search on load
      cal_min: 0, cal_max: v.max, trustCalMinMax: true,
    })));
    await nv.attachToCanvas(canvas);
    // sagittal before any volume: the default layout also renders 3-D, costly without a GPU
    nv.setSliceType(niivue.SLICE_TYPE.SAGITTAL);
    const images = await decoded;
    images.forEach((image, i) => {
      if (volumes[i].lut) image.setColormapLabel(volumes[i].lut);
      nv.addVolume(image);
    });
    const pane = { nv, names: document.getElementById(`names-${sequence}`) };
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
    document.getElementById("layout").addEventListener("change", (e) => {
      const value = e.target.value;
      document.getElementById("pane-t1").style.display = value === "t2" ? "none" : "";
      document.getElementById("pane-t2").style.display = value === "t1" ? "none" : "";
      for (const { nv } of panes) nv.resizeListener();
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
      panes.push(...(await Promise.all([makePane("t1"), makePane("t2")])));
      panes[0].nv.broadcastTo(panes[1].nv, { "2d": true, "3d": true, zoomPan: true });
      panes[1].nv.broadcastTo(panes[0].nv, { "2d": true, "3d": true, zoomPan: true });
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
  start();
})();
