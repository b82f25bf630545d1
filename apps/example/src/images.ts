import { AsyncRouter } from "@qtasks/router";

/** Image tasks live in their own module, in a router that the app includes. */
export const imagesRouter = new AsyncRouter({ name: "images" });

export const resize = imagesRouter.task(
  { name: "resize_image", echo: true },
  async (self, url: string, width: number) => {
    self.ctx.getLogger().debug("resizing", { url, width });
    return { url, width, uuid: self.ctx.taskUuid };
  },
);
