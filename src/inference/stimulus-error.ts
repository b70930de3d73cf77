/** A stimulus that cannot become a model input (an image that does not decode, a text without tokens): a 4xx for its request. */
export class StimulusError extends Error {}
