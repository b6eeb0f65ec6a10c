/**
 * @module The images Lodge can build itself. Kept apart from the schemas so that the CLI
 * can name them without loading the schema builder (CLI start time).
 */
export const buildableImages = ['busybox', 'debian/12', 'busybox-iso'] as const;
