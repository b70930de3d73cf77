/** Field numbers of the ONNX protobuf messages (onnx/onnx.proto), shared by the reader and the builder. */

// ModelProto
export const MODEL_IR_VERSION = 1;
export const MODEL_GRAPH = 7;
export const MODEL_OPSET_IMPORT = 8;
export const MODEL_PRODUCER_NAME = 2;
export const MODEL_PRODUCER_VERSION = 3;
export const MODEL_DOC_STRING = 6;
// GraphProto
export const GRAPH_NODE = 1;
export const GRAPH_NAME = 2;
export const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
export const GRAPH_OUTPUT = 12;
export const GRAPH_VALUE_INFO = 13;
// NodeProto
export const NODE_INPUT = 1;
export const NODE_OUTPUT = 2;
export const NODE_NAME = 3;
export const NODE_OP_TYPE = 4;
export const NODE_DOMAIN = 7;
export const NODE_ATTRIBUTE = 5;
// AttributeProto
export const ATTR_NAME = 1;
export const ATTR_F = 2;
export const ATTR_I = 3;
export const ATTR_S = 4;
export const ATTR_T = 5;
export const ATTR_FLOATS = 7;
export const ATTR_INTS = 8;
export const ATTR_TYPE = 20;
export const ATTR_TYPE_FLOAT = 1;
export const ATTR_TYPE_INT = 2;
export const ATTR_TYPE_STRING = 3;
export const ATTR_TYPE_TENSOR = 4;
export const ATTR_TYPE_FLOATS = 6;
export const ATTR_TYPE_INTS = 7;
// ValueInfoProto
export const VI_NAME = 1;
export const VI_TYPE = 2;
// TypeProto
export const TYPE_TENSOR = 1;
// TypeProto.Tensor
export const TENSOR_ELEM_TYPE = 1;
export const TENSOR_SHAPE = 2;
// TensorShapeProto
export const SHAPE_DIM = 1;
// TensorShapeProto.Dimension
export const DIM_VALUE = 1;
export const DIM_PARAM = 2;
// TensorProto
export const TP_NAME = 8;
export const TP_EXTERNAL_DATA = 13;
export const TP_DATA_LOCATION = 14;
export const TP_DIMS = 1;
export const TP_DATA_TYPE = 2;
export const TP_RAW_DATA = 9;
export const TP_LOCATION_EXTERNAL = 1;
// StringStringEntryProto
export const SSE_KEY = 1;
export const SSE_VALUE = 2;
// OperatorSetIdProto
export const OPSET_DOMAIN = 1;
export const OPSET_VERSION = 2;

/** TensorProto.DataType values the graph builder writes. */
export const ELEM_TYPE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
} as const;
export type ElemTypeName = keyof typeof ELEM_TYPE;

/** DataType value → name, for reading models (which may also hold types the builder does not write). */
export const ELEM_TYPE_NAMES: Record<number, string> = { ...Object.fromEntries(Object.entries(ELEM_TYPE).map(([k, v]) => [v, k])), 16: 'bfloat16' };
