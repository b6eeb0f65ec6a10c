/**
 * @module The images Lodge can build itself, and what each is. Kept apart from the schemas
 * so that the CLI can name them without loading the schema builder (CLI start time).
 */
export const buildableImages = ['busybox', 'debian/12', 'debian/12-cloud', 'busybox-iso'] as const;
export type BuildableImage = (typeof buildableImages)[number];

/** What each buildable image is: the kinds it boots, from what, and about how long a build takes here. */
export const buildableImageInfo: Record<BuildableImage, { kinds: string; about: string }> = {
  busybox: { kinds: 'ct, pv, vm', about: "a rootfs from Debian's busybox-static; seconds" },
  'debian/12': { kinds: 'ct, pv, vm', about: 'a Debian bookworm rootfs (minbase, systemd) made with debootstrap; about a minute, cached after' },
  'debian/12-cloud': { kinds: 'vm', about: 'debian/12 with cloud-init, which reads lodge launch --user-data FILE (NoCloud); about a minute' },
  'busybox-iso': { kinds: 'vm', about: "a live ISO (GRUB, Debian's cloud kernel, busybox) for vm guests booting through firmware; about a minute" },
};

export const isBuildableImage = (name: string): name is BuildableImage => (buildableImages as readonly string[]).includes(name);

/** The hint for an image that is not there: the command that builds it when Lodge can, else where to look. */
export function missingImageHint(name: string): string {
  return isBuildableImage(name)
    ? `it is not built yet: lodge image build ${name} makes it`
    : 'lodge image list shows what there is, lodge image list --available what Lodge builds (lodge image build NAME), lodge image import adds any other';
}
