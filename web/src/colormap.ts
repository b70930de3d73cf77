/** The server's colormap module, so the viewer paints exactly the colours of map.png. */
export { colorFor, NAN_COLOR, type RGB } from '../../src/render/colormap.ts';
